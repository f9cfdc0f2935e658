"""Compact rows for an agent's context: one conversation or run in a few hundred characters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._json import dumps, to_jsonable
from .._runs import Run, RunKind
from ..sinks import ConversationSummary
from ..sinks._summary import facts_of
from ..sinks._text import answer_text, as_text
from ..sinks._usage import tokens_of

CLIP = 200  # characters of a preview, an error, a metadata value
MAX_METADATA_KEYS = 10


def clip(text: str | None, limit: int = CLIP) -> str | None:
    """`text` cut to `limit` characters (an ellipsis marks the cut); None stays None."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def prefix_fitting(text: str, room: int) -> str:
    """The longest start of `text` whose JSON string takes at most `room` characters."""
    end = min(len(text), max(room - 2, 0))
    while end > 0:
        excess = len(dumps(text[:end])) - room
        if excess <= 0:
            return text[:end]
        end -= max(excess // 6, 1)  # an escaped character takes at most 6
    return ""


def compact_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """At most `MAX_METADATA_KEYS` keys, each value a short scalar or clipped JSON text."""
    found: dict[str, Any] = {}
    for key, value in list(metadata.items())[:MAX_METADATA_KEYS]:
        plain = to_jsonable(value)
        if isinstance(plain, str) or not isinstance(plain, (int, float, bool, type(None))):
            plain = clip(plain if isinstance(plain, str) else dumps(plain))
        found[clip(str(key), 100) or ""] = plain
    if len(metadata) > MAX_METADATA_KEYS:
        found["…"] = f"{len(metadata) - MAX_METADATA_KEYS} more keys"
    return found


def conversation_row(summary: ConversationSummary) -> dict[str, Any]:
    """One conversation: ids, times, counts, tokens, cost, errors, previews, tools."""
    return {
        "conversation_id": summary.conversation_id,
        "user_id": summary.user_id,
        "agent_id": summary.agent_id,
        "first_at": summary.first_at.isoformat(),
        "last_at": summary.last_at.isoformat(),
        "runs": summary.run_count,
        "llm_calls": summary.llm_count,
        "input_tokens": summary.input_tokens,
        "output_tokens": summary.output_tokens,
        "cost_usd": summary.cost,
        "errors": summary.error_count,
        "first_input": clip(summary.first_input),
        "last_answer": clip(summary.last_output),
        "tools": list(summary.tools)[:20],
        "grouping": "inferred" if summary.inferred else "given",
        "metadata": compact_metadata(summary.metadata),
    }


def run_tokens(run: Run) -> dict[str, int] | None:
    """Input and output tokens of a run (None: it reported no usage)."""
    found = tokens_of(run.usage)
    return None if found is None else {"input": found.input, "output": found.output}


def run_row(run: Run) -> dict[str, Any]:
    """One run: ids, kind, name, status, model, time, tokens, what went in and came out."""
    if run.kind is RunKind.LLM:
        facts = facts_of(run)
        said, answer = facts.first_input, facts.answer
    else:
        said = None if run.inputs is None else as_text(run.inputs)
        answer = None if run.outputs is None else answer_text(run.outputs)[1]
    return {
        "run_id": run.run_id,
        "conversation_id": run.conversation_id,
        "parent_run_id": run.parent_run_id,
        "kind": run.kind.value,
        "name": clip(run.name),
        "status": run.status,
        "error": clip(run.error),
        "model": clip(run.model),
        "started_at": run.started_at.isoformat(),
        "duration_ms": round(run.duration_ms, 1),
        "tokens": run_tokens(run),
        "input": clip(said),
        "output": clip(answer),
        "metadata": compact_metadata(run.metadata),
    }


def run_line(run: Run, depth: int) -> str:
    """One line of a run tree: indented name, kind, time, model, tokens, error, id."""
    parts = [f"{'  ' * depth}{clip(run.name, 80)} ({run.kind.value}) {run.duration_ms:.0f}ms"]
    if run.model:
        parts.append(clip(run.model, 60) or "")
    tokens = tokens_of(run.usage)
    if tokens is not None and tokens.total:
        parts.append(f"{tokens.total} tokens")
    if run.status == "error":
        parts.append(f"ERROR {clip(run.error or 'error', 120)}")
    parts.append(f"run_id={clip(run.run_id, 80)}")
    return " ".join(parts)
