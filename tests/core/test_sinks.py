"""Built-in sinks: SQLite (schema, idempotence, queries, odd payloads), JSONL, memory."""

from __future__ import annotations

import json
import math
import os
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from uuid_utils import uuid7

import convtrack as ct
from convtrack import Run, RunKind
from convtrack._serialize import run_from_dict, run_to_dict
from convtrack.sinks import DatabaseError, SQLiteSink
from convtrack.sinks._sqlite import SCHEMA_VERSION

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def make_run(
    n: int,
    conversation_id: str | None = "c1",
    *,
    kind: RunKind = RunKind.FUNCTION,
    user_id: str | None = "u1",
    **fields: object,
) -> Run:
    """A run starting n seconds after T0."""
    values: dict[str, object] = {
        "run_id": f"run-{n:05d}",
        "parent_run_id": None,
        "root_run_id": f"run-{n:05d}",
        "conversation_id": conversation_id,
        "user_id": user_id,
        "agent_id": None,
        "kind": kind,
        "name": f"step-{n}",
        "source": "test",
        "grouping": "context",
        "started_at": T0 + timedelta(seconds=n),
        "ended_at": T0 + timedelta(seconds=n, milliseconds=5),
    }
    values.update(fields)
    return Run(**values)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ct.SQLiteSink]:
    """A fresh SQLite store in a folder that does not exist yet."""
    sink = ct.SQLiteSink(tmp_path / "sub" / "store.db")
    yield sink
    sink.close()


def test_schema_wal_version_indexes(store: ct.SQLiteSink) -> None:
    """The store is in WAL mode, versioned, its runs indexed by conversation and its
    conversations by activity and user."""
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"runs_by_conversation", "conversations_by_last", "conversations_by_user"} <= indexes
    assert "runs_by_user" not in indexes  # (no query reads runs by user: conversations do)
    conn.close()


def test_round_trip_and_idempotent(store: ct.SQLiteSink) -> None:
    """Runs read back equal to what was written; exporting a run twice stores it once."""
    runs = [
        make_run(1, usage={"input_tokens": 3}, model="m", inputs={"q": "hi"}, outputs=["a"]),
        make_run(2, metadata={"k": "v"}, status="error", error="ValueError: x"),
    ]
    store.export(runs)
    store.export(runs[:1])
    assert store.count() == 2
    assert store.runs("c1") == runs


def test_odd_payloads_stored_without_failing(store: ct.SQLiteSink) -> None:
    """Unicode, NaN, bytes, lone surrogates and unserialisable objects do not break export."""

    class Opaque:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    cyclic: list[object] = []
    cyclic.append(cyclic)
    odd = {
        "unicode": "héllo 👋 中文",
        "nan": math.nan,
        "inf": [math.inf, -math.inf],
        "bytes": b"\x00\xffabc",
        "surrogate": "\ud800",
        "object": Opaque(),
        "set": {1},
        7: "int key",
        "cycle": cyclic,
        "dt": T0,
    }
    store.export([make_run(1, inputs=odd, outputs=object())])
    (back,) = store.runs("c1")
    assert back.inputs["unicode"] == "héllo 👋 中文"
    assert back.inputs["nan"] is None  # JSON has no NaN: null, as JSON.stringify writes it
    assert back.inputs["inf"] == [None, None]
    assert back.inputs["bytes"] == "\x00\\xffabc"
    assert back.inputs["object"].endswith("Opaque object>")
    assert back.inputs["7"] == "int key"
    assert back.inputs["dt"] == T0.isoformat()
    assert isinstance(back.outputs, str)


def test_conversations_summary_newest_first(store: ct.SQLiteSink) -> None:
    """conversations() summarises each conversation, the most recently active first."""
    store.export(
        [
            make_run(1, "old", user_id="alice"),
            make_run(2, "old", kind=RunKind.LLM, user_id="alice"),
            make_run(3, "new", user_id="bob", agent_id="bot"),
            make_run(4, None, user_id="bob"),  # no conversation: not listed
            make_run(5, "auto", user_id="carol", grouping="auto-new", kind=RunKind.LLM),
        ]
    )
    summaries = store.conversations()
    assert [s.conversation_id for s in summaries] == ["auto", "new", "old"]
    old = summaries[2]
    assert (old.user_id, old.run_count, old.llm_count, old.inferred) == ("alice", 2, 1, False)
    assert old.first_at == T0 + timedelta(seconds=1)
    assert old.last_at == T0 + timedelta(seconds=2, milliseconds=5)
    assert summaries[0].inferred is True
    assert summaries[1].agent_id == "bot"
    assert [s.conversation_id for s in store.conversations(user_id="alice")] == ["old"]
    assert [s.conversation_id for s in store.conversations(limit=1)] == ["auto"]
    since = T0 + timedelta(seconds=3)
    assert [s.conversation_id for s in store.conversations(since=since)] == ["auto", "new"]
    assert [s.conversation_id for s in store.conversations(agent_id="bot")] == ["new"]
    assert [s.conversation_id for s in store.conversations(query="ew")] == ["new"]


def test_runs_in_start_order(store: ct.SQLiteSink) -> None:
    """runs() returns a conversation's runs in start order, whatever the export order."""
    store.export([make_run(3), make_run(1), make_run(2)])
    assert [r.run_id for r in store.runs("c1")] == ["run-00001", "run-00002", "run-00003"]
    assert [r.run_id for r in store.iter_runs(batch_size=2)] == [
        "run-00001",
        "run-00002",
        "run-00003",
    ]


def test_reopen_after_shutdown(tmp_path: Path) -> None:
    """A store written by one pipeline is readable after shutdown and writable again."""
    path = tmp_path / "again.db"
    ct.configure([ct.SQLiteSink(path)], grouping=False)
    with ct.conversation("persisted"), ct.trace("one"):
        pass
    ct.shutdown()
    reopened = ct.SQLiteSink(path)
    assert [s.conversation_id for s in reopened.conversations()] == ["persisted"]
    reopened.export([make_run(9, "persisted")])
    assert reopened.conversations()[0].run_count == 2
    reopened.close()


def test_missing_and_foreign_files(tmp_path: Path) -> None:
    """create=False refuses a missing file; a foreign file is refused with a clear error."""
    with pytest.raises(DatabaseError, match="no convtrack database"):
        ct.SQLiteSink(tmp_path / "missing.db", create=False)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DatabaseError, match="not a convtrack database"):
        ct.SQLiteSink(junk)
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE users (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(DatabaseError, match="not a convtrack database"):
        ct.SQLiteSink(other)
    newer = tmp_path / "newer.db"
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(DatabaseError, match="newer convtrack"):
        ct.SQLiteSink(newer)


def test_jsonl_sink(tmp_path: Path) -> None:
    """JSONLSink appends one JSON object per run, readable back into equal runs."""
    path = tmp_path / "runs.jsonl"
    sink = ct.JSONLSink(path)
    runs = [make_run(1, inputs={"x": "é"}), make_run(2, kind=RunKind.LLM, usage={"t": 1})]
    sink.export(runs)
    sink.flush()
    sink.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [run_from_dict(json.loads(line)) for line in lines] == runs


def test_memory_sink() -> None:
    """MemorySink keeps runs in emission order as a tuple and can be cleared."""
    sink = ct.MemorySink()
    sink.export([make_run(2), make_run(1)])
    assert [r.run_id for r in sink.runs] == ["run-00002", "run-00001"]
    assert isinstance(sink.runs, tuple)
    sink.clear()
    assert sink.runs == ()
    assert sink.flush() is True


def test_serialised_shape() -> None:
    """run_to_dict gives plain JSON types with ISO timestamps."""
    data = run_to_dict(make_run(1, kind=RunKind.TOOL))
    assert data["kind"] == "tool"
    assert data["started_at"] == "2026-01-01T00:00:01+00:00"
    json.dumps(data, allow_nan=False)


def test_sink_protocol() -> None:
    """The built-in sinks satisfy the Sink protocol."""
    assert isinstance(ct.MemorySink(), ct.Sink)


def test_default_sink_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """configure() with no sinks writes ./convtrack.db."""
    monkeypatch.chdir(tmp_path)
    ct.configure(grouping=False)
    with ct.conversation("here"), ct.trace("x"):
        pass
    ct.shutdown()
    assert os.path.exists(tmp_path / "convtrack.db")


def test_huge_integers_stored_as_text(store: ct.SQLiteSink) -> None:
    """Integers beyond 64 bits do not break export; they are kept as text."""
    store.export([make_run(1, inputs={"big": 2**80, "neg": -(2**70)}, outputs=2**65)])
    (back,) = store.runs("c1")
    assert back.inputs == {"big": str(2**80), "neg": str(-(2**70))}
    assert back.outputs == str(2**65)


def test_sqlite_counts_an_llm_run_inside_an_llm_run_once(tmp_path: Path) -> None:
    """`llm_count` counts model calls: an SDK call inside a chat model's run is the same call."""
    sink = SQLiteSink(tmp_path / "nested.db")
    outer = _nested_run("llm", None)
    inner = _nested_run("llm", outer)
    step = _nested_run("function", None)
    sdk_in_step = _nested_run("llm", step)
    sink.export([inner, outer, sdk_in_step, step])
    (summary,) = sink.conversations()
    assert (summary.run_count, summary.llm_count) == (4, 2)
    sink.close()


def _nested_run(kind: str, parent: Run | None) -> Run:
    run_id = str(uuid7())
    now = datetime.now(timezone.utc)
    return Run(
        run_id=run_id,
        parent_run_id=None if parent is None else parent.run_id,
        root_run_id=run_id if parent is None else parent.root_run_id,
        conversation_id="conv-nested",
        user_id=None,
        agent_id=None,
        kind=RunKind(kind),
        name=kind,
        source="test",
        grouping="context",
        started_at=now,
        ended_at=now,
    )
