"""How one convtrack Run looks as a span: ids, times, name, kind, status and attributes."""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from convtrack import Run
from convtrack.instrumentation import dumps

from ._names import Names

INFERRED_GROUPINGS = frozenset({"auto-matched", "auto-new"})
# Sources whose LLM runs name their provider (`gen_ai.provider.name`).
PROVIDERS = frozenset({"openai", "anthropic"})

_KINDS = {"llm": SpanKind.CLIENT, "http": SpanKind.SERVER}


def trace_id_of(root_run_id: str) -> int:
    """The trace id of every span of one root run's tree (128 bits, never 0)."""
    digest = hashlib.blake2b(root_run_id.encode(), digest_size=16, person=b"convtrack.trace")
    return int.from_bytes(digest.digest(), "big") or 1


def span_id_of(run_id: str) -> int:
    """The span id of one run (64 bits, never 0): a child can name its parent's before it ends."""
    digest = hashlib.blake2b(run_id.encode(), digest_size=8, person=b"convtrack.span")
    return int.from_bytes(digest.digest(), "big") or 1


def error_parts(error: str) -> tuple[str, str]:
    """`("ValueError", "bad input")` from convtrack's `"ValueError: bad input"`.

    A text that does not start with a type name gives `("_OTHER", text)` (the semantic
    conventions' fallback for `error.type`).
    """
    head, _, rest = error.partition(": ")
    if head and all(part.isidentifier() for part in head.split(".")):
        return head, rest
    return "_OTHER", error


class SpanParts(NamedTuple):
    """What the sink hands to the tracer for one run."""

    name: str
    kind: SpanKind
    attributes: dict[str, AttributeValue]


def has_tokens(usage: object) -> bool:
    """Whether a run's usage holds a token count the span would carry."""
    return isinstance(usage, dict) and any(_tokens(usage.get(key)) for key in _USAGE_KEYS)


def _tokens(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_USAGE_KEYS = ("input_tokens", "output_tokens")


def span_parts(
    run: Run,
    names: Names,
    *,
    inferred_as_conversation_id: bool,
    capture_content: bool,
    usage: bool = True,
) -> SpanParts:
    """The span name, kind and attributes of `run` (GenAI semantic conventions + convtrack's).

    `usage`: False leaves the token counts out (another span of the same model call has them).
    """
    kind = str(run.kind)
    attrs: dict[str, AttributeValue] = {
        "convtrack.run.id": run.run_id,
        "convtrack.run.kind": kind,
        "convtrack.run.name": run.name,
        "convtrack.run.source": run.source,
        "convtrack.grouping": run.grouping,
    }
    if run.conversation_id:
        inferred = run.grouping in INFERRED_GROUPINGS
        attrs["convtrack.conversation.id"] = run.conversation_id
        attrs["convtrack.conversation.inferred"] = inferred
        if inferred_as_conversation_id or not inferred:
            for key in names.conversation:
                attrs[key] = run.conversation_id
    for value, own, keys in (
        (run.user_id, "convtrack.user.id", names.user),
        (run.agent_id, "convtrack.agent.id", names.agent),
    ):
        if value:
            attrs[own] = value
            for key in keys:
                attrs[key] = value

    name = run.name or kind
    if kind == "llm":
        attrs["gen_ai.operation.name"] = "chat"
        if run.source in PROVIDERS:
            attrs["gen_ai.provider.name"] = run.source
        if run.model:
            attrs["gen_ai.request.model"] = run.model
            attrs["gen_ai.response.model"] = run.model
        name = f"chat {run.model}" if run.model else "chat"
    elif kind == "tool":
        attrs["gen_ai.operation.name"] = "execute_tool"
        attrs["gen_ai.tool.name"] = run.name
        name = f"execute_tool {run.name}"
    elif run.model:
        attrs["gen_ai.request.model"] = run.model

    counts = (run.usage or {}) if usage else {}
    for ours, theirs in (
        ("input_tokens", "gen_ai.usage.input_tokens"),
        ("output_tokens", "gen_ai.usage.output_tokens"),
    ):
        tokens = counts.get(ours)
        if _tokens(tokens):
            attrs[theirs] = tokens
    if run.error is not None:
        attrs["error.type"] = error_parts(run.error)[0]

    for key, value in run.metadata.items():
        if isinstance(value, (str, bool, int, float)):
            attrs[f"convtrack.metadata.{key}"] = value
        elif value is not None:
            attrs[f"convtrack.metadata.{key}"] = dumps(value)
    if capture_content:
        if run.inputs is not None:
            attrs["convtrack.inputs"] = dumps(run.inputs)
        if run.outputs is not None:
            attrs["convtrack.outputs"] = dumps(run.outputs)
    return SpanParts(name, _KINDS.get(kind, SpanKind.INTERNAL), attrs)
