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
_TOTAL_KEYS = ("total_tokens",)
_CACHE_READ_KEYS = ("cache_read_input_tokens",)
_CACHE_WRITE_KEYS = ("cache_creation_input_tokens",)


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
        if value.__class__ is int and value >= 0:
            return value
    return None


def tokens_of(usage: Any) -> Tokens | None:
    """The tokens of a run's `usage` mapping, or None when it reports none."""
    if type(usage) is not dict and not isinstance(usage, Mapping):
        return None
    found_in = _count(usage, _INPUT_KEYS)
    found_out = _count(usage, _OUTPUT_KEYS)
    total = _count(usage, _TOTAL_KEYS)
    if found_in is None and found_out is None and total is None:
        return None
    input_tokens = found_in or 0
    cache_read = cache_write = 0
    if "cache_read_input_tokens" in usage or "cache_creation_input_tokens" in usage:
        cache_read = _count(usage, _CACHE_READ_KEYS) or 0
        cache_write = _count(usage, _CACHE_WRITE_KEYS) or 0
        if "prompt_tokens" not in usage:  # Anthropic's input_tokens leaves them out
            input_tokens += cache_read + cache_write
    elif "cached_input_tokens" in usage:  # OpenAI's, part of the input already
        cache_read = _count(usage, ("cached_input_tokens",)) or 0
    output_tokens = found_out or 0
    if total is None:
        total = input_tokens + output_tokens
    return Tokens(input_tokens, output_tokens, total, cache_read, cache_write)
