"""Helpers for the viewer tests: run builders and direct store access."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from uuid_utils import uuid7

from convtrack import Run, RunKind, SQLiteSink

HOSTILE_SCRIPT = "<script>alert(1)</script>"
HOSTILE_IMG = "<img src=x onerror=window.__pwned=1>"


def make_run(
    conversation_id: str | None,
    *,
    kind: RunKind = RunKind.LLM,
    name: str = "chat.completions",
    parent: Run | None = None,
    started_at: datetime | None = None,
    duration: float = 0.25,
    **fields: Any,
) -> Run:
    """A finished run, with sensible ids and times (`fields` override the rest)."""
    run_id = fields.pop("run_id", None) or str(uuid7())
    start = started_at or datetime.now(timezone.utc)
    values: dict[str, Any] = {
        "run_id": run_id,
        "parent_run_id": parent.run_id if parent else None,
        "root_run_id": parent.root_run_id if parent else run_id,
        "conversation_id": conversation_id,
        "user_id": "user-test",
        "agent_id": None,
        "kind": kind,
        "name": name,
        "source": "test",
        "grouping": "context",
        "started_at": start,
        "ended_at": start + timedelta(seconds=duration),
    }
    values.update(fields)
    return Run(**values)


def chat_run(
    conversation_id: str, history: list[dict[str, Any]], answer: Any, **fields: Any
) -> Run:
    """An LLM run as the integrations record one: the messages in, the assistant message out."""
    outputs = {"role": "assistant", "content": answer} if isinstance(answer, str) else answer
    return make_run(conversation_id, inputs={"messages": history}, outputs=outputs, **fields)


def export(db: Path, *runs: Run) -> None:
    """Write runs to the store as an application's SQLiteSink would (another connection)."""
    sink = SQLiteSink(db)
    try:
        sink.export(runs)
    finally:
        sink.close()


def demo_ids(db: Path) -> list[str]:
    """The demo's conversation ids, newest first."""
    sink = SQLiteSink(db, create=False)
    try:
        return [s.conversation_id for s in sink.conversations(limit=None)]
    finally:
        sink.close()


def demo_conversation(db: Path, user_id: str) -> str:
    """The id of the demo conversation of `user_id` that has the most runs."""
    sink = SQLiteSink(db, create=False)
    try:
        mine = sink.conversations(limit=None, user_id=user_id)
    finally:
        sink.close()
    return max(mine, key=lambda s: s.run_count).conversation_id
