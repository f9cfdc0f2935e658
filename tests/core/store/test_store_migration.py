"""A version-1 store (as convtrack 0.1 wrote it) opens, is migrated once, and loses nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from store_support import NEVER_IDLE, chat, run, write_v1

from convtrack import RunKind, SQLiteSink
from convtrack.sinks._sqlite import SCHEMA_VERSION
from convtrack.sinks._summary import summaries

RUNS = [
    chat("a1", "conv-a", "Where is my order?", "Shipped.", at=0, user_id="alice",
         usage={"prompt_tokens": 10, "completion_tokens": 2}, model="gpt-4o-mini",
         source="openai", metadata={"customer_id": "cust-77"}),
    run("a2", "conv-a", at=2, kind=RunKind.TOOL, name="lookup", status="error", error="E"),
    run("a3", "conv-a", at=2.5, kind=RunKind.LLM, parent="a1", usage={"input_tokens": 10}),
    chat("b1", "conv-b", "refund please", "Done.", at=5, user_id="bob"),
    run("x1", None, at=6),
]  # fmt: skip


def test_v1_store_is_migrated_in_place(tmp_path: Path) -> None:
    """Opening a version-1 file adds the summaries, metadata and search indexes of its runs."""
    path = tmp_path / "v1.db"
    write_v1(path, RUNS)
    sink = SQLiteSink(path, create=False, idle_timeout=NEVER_IDLE)
    assert sink.count() == len(RUNS)
    assert sink.runs("conv-a") == sorted(RUNS[:3], key=lambda r: r.started_at)
    assert sink.conversations() == summaries(RUNS)
    assert [s.conversation_id for s in sink.conversations(metadata={"customer_id": "cust-77"})] == [
        "conv-a"
    ]
    assert [s.conversation_id for s in sink.conversations(text="refund")] == ["conv-b"]
    assert [s.conversation_id for s in sink.conversations(status="error")] == ["conv-a"]
    sink.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"runs_by_conversation", "runs_by_start"} <= indexes
    assert "runs_by_user" not in indexes  # (no query reads it: conversations answer by user)
    conn.close()


def test_migration_happens_once_and_writes_continue(tmp_path: Path) -> None:
    """A migrated store reopened is not migrated again; new runs add to the migrated rows."""
    path = tmp_path / "v1.db"
    write_v1(path, RUNS)
    SQLiteSink(path, idle_timeout=NEVER_IDLE).close()
    sink = SQLiteSink(path, idle_timeout=NEVER_IDLE)
    more = chat("a4", "conv-a", "thanks", "You're welcome.", at=9)
    sink.export([more])
    assert sink.conversations() == summaries([*RUNS, more])
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM conversations").fetchone()[0] == 2
    sink.close()
    conn.close()


def test_a_reader_migrates_too(tmp_path: Path) -> None:
    """Opening with create=False (the CLI, the viewer) migrates a version-1 file as well."""
    path = tmp_path / "v1.db"
    write_v1(path, RUNS[:1])
    sink = SQLiteSink(path, create=False, idle_timeout=NEVER_IDLE)
    assert [s.conversation_id for s in sink.conversations()] == ["conv-a"]
    sink.close()


def _as_version_2(path: Path) -> None:
    """Turn a store into one as the version-2 code left it: runs indexed by user, LLM runs by
    parent, no table of the LLM runs awaiting their parent (the version-3 schema is version
    2's otherwise)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE llm_runs_awaiting_parent")
    conn.execute("CREATE INDEX runs_by_user ON runs (user_id, started_at)")
    conn.execute(
        "CREATE INDEX runs_llm_by_parent ON runs (parent_run_id)"
        " WHERE kind = 'llm' AND parent_run_id IS NOT NULL"
    )
    conn.execute("PRAGMA user_version = 2")
    conn.close()


def test_v2_store_is_migrated_and_nests_later_parents(tmp_path: Path) -> None:
    """A version-2 store whose LLM runs wait for their parents gets them recorded as waiting:
    a parent written after the migration nests them as if nothing had happened."""
    usage = {"prompt_tokens": 10, "completion_tokens": 2}
    inner = [
        run("in-a", "conv-a", at=1, kind=RunKind.LLM, parent="out-a", usage=usage,
            model="gpt-4o-mini", source="openai"),
        run("in-b", "conv-b", at=1, kind=RunKind.LLM, parent="tool-b", usage=usage),
        run("in-c", "conv-c", at=1, kind=RunKind.LLM, parent="out-c", usage=usage),
    ]  # fmt: skip
    parents = [
        run("out-a", "conv-a", at=0, duration=3, kind=RunKind.LLM, usage=usage,
            model="gpt-4o-mini", source="openai"),
        run("tool-b", "conv-b", at=0, duration=3, kind=RunKind.TOOL),
        run("out-c", "conv-c", at=0, duration=3, kind=RunKind.LLM),  # no tokens: inner's count
    ]  # fmt: skip
    path = tmp_path / "v2.db"
    sink = SQLiteSink(path, idle_timeout=NEVER_IDLE)
    sink.export([*inner, parents[1]])
    sink.close()
    _as_version_2(path)
    sink = SQLiteSink(path, idle_timeout=NEVER_IDLE)
    waiting = sink._conn.execute("SELECT run_id FROM llm_runs_awaiting_parent").fetchall()
    assert sorted(r[0] for r in waiting) == ["in-a", "in-c"]  # in-b's parent is written
    sink.export([parents[0], parents[2]])
    assert sink.conversations() == summaries([*inner, *parents])
    assert sink._conn.execute("SELECT COUNT(*) FROM llm_runs_awaiting_parent").fetchone()[0] == 0
    indexes = {r[0] for r in sink._conn.execute("SELECT name FROM sqlite_master")}
    assert not {"runs_llm_by_parent", "runs_by_user"} & indexes
    assert "runs_by_start" in indexes
    sink.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
