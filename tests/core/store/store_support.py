"""Helpers for the store tests: runs with chosen fields, and a version-1 store made by hand."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from convtrack import Run, RunKind
from convtrack._json import dumps
from convtrack._runs import times_ns

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
# An idle_timeout that keeps conversations of T0 open (as `summarise()` has them) for a century.
NEVER_IDLE = 100 * 365 * 86400.0

# The schema and insert of convtrack 0.1 (schema version 1), as that code wrote them.
V1_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, parent_run_id TEXT, root_run_id TEXT NOT NULL,
    conversation_id TEXT, user_id TEXT, agent_id TEXT, kind TEXT NOT NULL, name TEXT NOT NULL,
    source TEXT NOT NULL, grouping TEXT NOT NULL, started_at INTEGER NOT NULL,
    ended_at INTEGER NOT NULL, status TEXT NOT NULL, error TEXT, model TEXT, inputs TEXT,
    outputs TEXT, usage TEXT, metadata TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_conversation ON runs (conversation_id, started_at);
CREATE INDEX IF NOT EXISTS runs_by_user ON runs (user_id, started_at);
"""


def run(
    run_id: str,
    conversation_id: str | None = "c1",
    *,
    at: float = 0.0,
    duration: float = 1.0,
    kind: RunKind = RunKind.FUNCTION,
    parent: str | None = None,
    **fields: Any,
) -> Run:
    """A run starting `at` seconds after T0."""
    values: dict[str, Any] = {
        "run_id": run_id,
        "parent_run_id": parent,
        "root_run_id": parent or run_id,
        "conversation_id": conversation_id,
        "user_id": None,
        "agent_id": None,
        "kind": kind,
        "name": kind.value,
        "source": "test",
        "grouping": "context",
        "started_at": T0 + timedelta(seconds=at),
        "ended_at": T0 + timedelta(seconds=at + duration),
    }
    values.update(fields)
    return Run(**values)


def chat(run_id: str, conversation_id: str, question: str, answer: str, **fields: Any) -> Run:
    """An LLM run as the integrations record one."""
    fields.setdefault("kind", RunKind.LLM)
    return run(
        run_id,
        conversation_id,
        inputs={"messages": [{"role": "user", "content": question}]},
        outputs={"role": "assistant", "content": answer},
        **fields,
    )


def write_v1(path: Path, runs: list[Run]) -> None:
    """A store as convtrack 0.1 wrote it: schema version 1, the runs table only."""
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    conn.execute("PRAGMA user_version = 1")
    for r in runs:
        start_ns, end_ns = times_ns(r)
        conn.execute(
            f"INSERT OR REPLACE INTO runs VALUES ({', '.join('?' * 19)})",
            (
                r.run_id, r.parent_run_id, r.root_run_id, r.conversation_id, r.user_id,
                r.agent_id, r.kind.value, r.name, r.source, r.grouping, start_ns // 1000,
                end_ns // 1000, r.status, r.error, r.model,
                None if r.inputs is None else dumps(r.inputs),
                None if r.outputs is None else dumps(r.outputs),
                None if r.usage is None else dumps(r.usage),
                dumps(r.metadata) if r.metadata else None,
            ),
        )  # fmt: skip
    conn.commit()
    conn.close()
