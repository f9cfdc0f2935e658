"""Token usage, whichever naming an SDK reported it in: the one place that reads it.

OpenAI chat says `prompt_tokens`/`completion_tokens`; OpenAI responses, Anthropic and
LangChain say `input_tokens`/`output_tokens`; Anthropic reports cached input apart
(`cache_read_input_tokens`, `cache_creation_input_tokens`). The CLI, the viewer and the
store's conversation totals all count tokens through `tokens_of`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

_INPUT_KEYS = ("input_tokens", "prompt_tokens")
_OUTPUT_KEYS = ("output_tokens", "completion_tokens")
_ANTHROPIC_CACHE_KEYS = ("cache_read_input_tokens", "cache_creation_input_tokens")


class Tokens(NamedTuple):
    """A run's tokens: all input (cached or not), output, their total, and the cached parts."""

    input: int
    output: int
    total: int
    cache_read: int = 0
    cache_write: int = 0


def _count(usage: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = usage.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def tokens_of(usage: Any) -> Tokens | None:
    """The tokens of a run's `usage` mapping, or None when it reports none."""
    if not isinstance(usage, Mapping):
        return None
    found_in = _count(usage, _INPUT_KEYS)
    found_out = _count(usage, _OUTPUT_KEYS)
    total = _count(usage, ("total_tokens",))
    if found_in is None and found_out is None and total is None:
        return None
    cache_read = _count(usage, ("cache_read_input_tokens",))
    cache_write = _count(usage, ("cache_creation_input_tokens",))
    input_tokens = found_in or 0
    if "prompt_tokens" not in usage:  # Anthropic's input_tokens leaves the cached parts out
        input_tokens += (cache_read or 0) + (cache_write or 0)
    if cache_read is None:
        cache_read = _count(usage, ("cached_input_tokens",))  # OpenAI's, part of the input
    output_tokens = found_out or 0
    if total is None:
        total = input_tokens + output_tokens
    return Tokens(input_tokens, output_tokens, total, cache_read or 0, cache_write or 0)
