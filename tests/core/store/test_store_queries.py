"""conversations() filters, alone and combined; keyset pages; the search fallback; prune."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from store_support import T0, chat, run

from convtrack import Run, RunKind, SQLiteSink
from convtrack.sinks import _schema, next_cursor


def corpus() -> list[Run]:
    """Twelve conversations: users, agents, metadata, errors and words vary among them."""
    runs = []
    for n in range(12):
        cid = f"conv-{n:02d}"
        meta = {
            "customer_id": f"cust-{n % 3}",
            "tier": n % 2,
            "region.eu": "yes" if n < 6 else "no",
        }
        runs.append(
            chat(f"{cid}-1", cid, f"question about parcel {n}", "refund issued" if n % 4 == 0
                 else "all good", at=n * 10, user_id=f"user-{n % 2}",
                 agent_id="bot" if n < 8 else "other", metadata=meta)
        )  # fmt: skip
        runs.append(
            run(f"{cid}-2", cid, at=n * 10 + 1, kind=RunKind.TOOL, name="lookup",
                status="error" if n % 5 == 0 else "ok", metadata={"step": f"s{n}"})
        )  # fmt: skip
    return runs


@pytest.fixture
def store(new_store: Callable[[], Any]) -> Any:
    """A store (of each kind) holding `corpus()`."""
    sink = new_store()
    sink.export(corpus())
    return sink


def ids(summaries: list) -> list[str]:  # type: ignore[type-arg]
    """The conversation ids, in the order given."""
    return [s.conversation_id for s in summaries]


ALL = [f"conv-{n:02d}" for n in range(11, -1, -1)]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ALL),
        ({"user_id": "user-1"}, [c for c in ALL if int(c[-2:]) % 2 == 1]),
        ({"agent_id": "other"}, ["conv-11", "conv-10", "conv-09", "conv-08"]),
        ({"since": T0 + timedelta(seconds=100)}, ["conv-11", "conv-10"]),
        ({"until": T0 + timedelta(seconds=12)}, ["conv-00"]),
        ({"query": "-1"}, ["conv-11", "conv-10"]),
        ({"metadata": {"customer_id": "cust-2"}}, ["conv-11", "conv-08", "conv-05", "conv-02"]),
        ({"metadata": {"tier": 1, "region.eu": "yes"}}, ["conv-05", "conv-03", "conv-01"]),
        ({"metadata": {"step": "s7"}}, ["conv-07"]),  # a key on one run only
        ({"metadata": {"tier": "1"}}, [c for c in ALL if int(c[-2:]) % 2 == 1]),
        ({"text": "refund"}, ["conv-08", "conv-04", "conv-00"]),
        ({"text": "PARCEL 7"}, ["conv-07"]),
        ({"text": "parcel 7 refund"}, []),  # words in this order only
        ({"status": "error"}, ["conv-10", "conv-05", "conv-00"]),
        ({"status": "ok"}, [c for c in ALL if int(c[-2:]) % 5 != 0]),
        ({"user_id": "user-0", "status": "error", "text": "refund"}, ["conv-00"]),
        (
            {"agent_id": "bot", "metadata": {"customer_id": "cust-1"}, "since": T0},
            ["conv-07", "conv-04", "conv-01"],
        ),
    ],
)
def test_each_filter_alone_and_combined(
    store: Any,
    filters: dict,
    expected: list[str],  # type: ignore[type-arg]
) -> None:
    """Each filter keeps exactly the conversations it names, newest first."""
    assert ids(store.conversations(None, **filters)) == expected


@pytest.mark.parametrize("size", [1, 2, 5, 12, 50])
def test_pages_return_every_conversation_exactly_once(store: Any, size: int) -> None:
    """Following `before=` cursors visits every conversation once, in order, then stops."""
    seen: list[str] = []
    cursor = None
    while True:
        page = store.conversations(size, before=cursor)
        seen.extend(ids(page))
        if len(page) < size:
            break
        cursor = next_cursor(page)
    assert seen == ALL


def test_pages_hold_while_conversations_tie_on_time(new_store: Callable[[], Any]) -> None:
    """Conversations last active at the same instant are paged by id, none lost or repeated."""
    sink = new_store()
    sink.export([run(f"r{n}", f"c{n:02d}", at=0) for n in range(7)])
    seen, cursor = [], None
    for _ in range(4):
        page = sink.conversations(2, before=cursor)
        seen.extend(ids(page))
        cursor = next_cursor(page)
    assert seen == [f"c{n:02d}" for n in range(7)]


def test_filtered_pages(store: Any) -> None:
    """A cursor combines with the other filters."""
    first = store.conversations(2, user_id="user-1")
    rest = store.conversations(None, user_id="user-1", before=next_cursor(first))
    assert ids(first) + ids(rest) == [c for c in ALL if int(c[-2:]) % 2 == 1]


def test_text_search_without_fts5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where SQLite lacks FTS5 the store has no search index, and `text=` still answers."""
    monkeypatch.setattr(_schema, "fts5_available", lambda conn: False)
    sink = SQLiteSink(tmp_path / "nofts.db")
    sink.export(corpus())
    assert ids(sink.conversations(None, text="REFUND")) == ["conv-08", "conv-04", "conv-00"]
    conn = sqlite3.connect(sink.path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "search_text" not in tables
    conn.close()
    sink.close()


def test_prune_deletes_whole_conversations_and_leaves_no_orphan(
    new_store: Callable[[], Any],
) -> None:
    """prune(before=) removes each old conversation with its runs and index rows, in batches."""
    sink = new_store()
    sink.export([*corpus(), run("loose-old", None, at=1), run("loose-new", None, at=500)])
    # conv-05 was last active at 61 s: a new run keeps it
    sink.export([run("late", "conv-05", at=200)])
    calls: list[tuple[int, int]] = []
    deleted = sink.prune(
        T0 + timedelta(seconds=75), batch_size=2, progress=lambda d, t: calls.append((d, t))
    )
    assert deleted == 7
    assert calls == [(2, 7), (4, 7), (6, 7), (7, 7)]
    assert ids(sink.conversations(None)) == ["conv-05", "conv-11", "conv-10", "conv-09", "conv-08"]
    assert ids(sink.conversations(None, text="refund")) == ["conv-08"]
    if not isinstance(sink, SQLiteSink):
        assert postgres_orphans(sink) == {"runs": 0, "documents": 0, "loose": ["loose-new"]}
        return
    conn = sqlite3.connect(sink.path)
    orphans = {
        "runs": "SELECT COUNT(*) FROM runs WHERE conversation_id IS NOT NULL AND conversation_id"
        " NOT IN (SELECT conversation_id FROM conversations)",
        "metadata": "SELECT COUNT(*) FROM conversation_metadata WHERE conversation_id NOT IN"
        " (SELECT conversation_id FROM conversations)",
        "documents": "SELECT COUNT(*) FROM search_documents WHERE conversation_id NOT IN"
        " (SELECT conversation_id FROM conversations)",
        "text": "SELECT COUNT(*) FROM search_text WHERE rowid NOT IN"
        " (SELECT document_id FROM search_documents)",
    }
    assert {
        name: conn.execute(sql).fetchone()[0] for name, sql in orphans.items()
    } == dict.fromkeys(orphans, 0)
    loose = [r[0] for r in conn.execute("SELECT run_id FROM runs WHERE conversation_id IS NULL")]
    assert loose == ["loose-new"]
    conn.close()
    sink.vacuum()


def postgres_orphans(sink: Any) -> dict[str, Any]:
    """Rows a PostgreSQL store keeps for conversations it no longer has; loose runs."""
    import psycopg
    from psycopg import sql

    s = sql.Identifier(sink.schema)
    with psycopg.connect(sink.dsn) as conn:
        found: dict[str, Any] = {}
        for name, table in (("runs", "runs"), ("documents", "search_documents")):
            found[name] = conn.execute(
                sql.SQL(
                    "SELECT count(*) FROM {s}.{t} WHERE conversation_id IS NOT NULL AND"
                    " conversation_id NOT IN (SELECT conversation_id FROM {s}.conversations)"
                ).format(s=s, t=sql.Identifier(table))
            ).fetchone()[0]  # type: ignore[index]
        found["loose"] = [
            r[0]
            for r in conn.execute(
                sql.SQL("SELECT run_id FROM {}.runs WHERE conversation_id IS NULL").format(s)
            )
        ]
    return found
