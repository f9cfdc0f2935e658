"""Feedback and conversation ends in the PostgreSQL store, side by side with the SQLite
store: the same records, filters, idle rule, summaries, errors and pruning; one atomic write
each under concurrent writers; the migration; the viewer and the CLI."""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from convtrack_postgres import PostgresSink
from pg_support import fresh_schema
from psycopg import sql

import convtrack as ct
from convtrack import ConversationEnd, Feedback, SQLiteSink
from convtrack._events import make_feedback

sys.path.insert(0, str(Path(__file__).parents[2] / "core" / "store"))
from store_support import NEVER_IDLE, T0, run

Both = Callable[..., tuple[Any, Any]]


@pytest.fixture
def both(tmp_path: Path, postgres_url: str) -> Iterator[Both]:
    """Opens a PostgreSQL store and a SQLite store (`both(idle_timeout=..., name=...)`; the
    same name opens the same two stores again)."""
    opened: list[Any] = []
    own = fresh_schema()

    def open_both(idle_timeout: Any = NEVER_IDLE, name: str = "s") -> tuple[Any, Any]:
        pg = PostgresSink(postgres_url, schema=f"{own}_{name}", idle_timeout=idle_timeout)
        lite = SQLiteSink(tmp_path / f"{name}.db", idle_timeout=idle_timeout)
        opened.extend((pg, lite))
        return pg, lite

    yield open_both
    for sink in opened:
        sink.close()


def _given(fid: str, cid: str | None, run_id: str | None = None, **fields: Any) -> Feedback:
    made = make_feedback(cid, run_id, fields.pop("key", "thumbs"), 1, **fields)
    return replace(made, feedback_id=fid, created_at=T0 + timedelta(seconds=30))


def _ids(sink: Any, **filters: object) -> list[str]:
    return [s.conversation_id for s in sink.conversations(None, **filters)]


def test_feedback_and_end_through_the_pipeline(both: Both) -> None:
    """configure([PostgresSink, SQLiteSink]): the same feedback records and end reach both
    and read back whole, with the same summaries and filters."""
    pg, lite = both(idle_timeout=1800.0)
    ct.configure([pg, lite], grouping=False)
    with ct.conversation("conv-1", user_id="alice"):
        with ct.trace("step") as step:
            pass
        on_run = ct.feedback(run_id=step.run_id, key="correct", value={"label": "yes", "n": 2})
        on_conv = ct.feedback(key="thumbs", score=1, comment="great")
        end = ct.end_conversation()
    assert ct.flush()
    assert end is not None
    assert pg.feedback("conv-1") == lite.feedback("conv-1") == [on_run, on_conv]
    assert pg.feedback(run_id=step.run_id) == [on_run]
    assert pg.conversations() == lite.conversations()
    assert pg.conversation("conv-1") == lite.conversation("conv-1")
    [summary] = pg.conversations()
    assert (summary.feedback_count, summary.ended_at) == (2, end.ended_at)
    for filters, expected in (
        ({"ended": True}, ["conv-1"]),
        ({"ended": False}, []),
        ({"feedback": "thumbs"}, ["conv-1"]),
        ({"feedback": "other"}, []),
    ):
        assert _ids(pg, **filters) == _ids(lite, **filters) == expected


def test_records_twice_on_a_run_alone_and_ends_in_any_order(both: Both) -> None:
    """A record exported twice is kept once; one naming only a stored run is filed under
    that run's conversation; an end before any run makes a row the runs merge into; the
    latest end wins. Both stores agree at every step."""
    pg, lite = both()
    ended, early = T0 + timedelta(seconds=60), T0 + timedelta(seconds=10)
    twice = _given("f-1", "c1")
    steps: list[Callable[[Any], None]] = [
        lambda s: s.export_events([ConversationEnd("c5", ended), ConversationEnd("c5", early)]),
        lambda s: s.export([run("r1", "c1"), run("r9", "c9"), run("r5", "c5", at=1)]),
        lambda s: s.export_events([twice, twice]),
        lambda s: s.export_events([twice, _given("f-2", None, "r9", comment="nul\x00")]),
        lambda s: s.export([run("r6", "c5", at=5)]),
        lambda s: s.export_events([ConversationEnd("c5", early)]),
    ]
    for step in steps:
        step(pg)
        step(lite)
        assert pg.conversations(None) == lite.conversations(None)
    assert pg.feedback("c1") == [twice]
    [filed] = pg.feedback("c9")
    assert (filed.conversation_id, filed.run_id, filed.comment) == ("c9", "r9", "nul\ufffd")
    assert _ids(pg, feedback="thumbs") == _ids(lite, feedback="thumbs") == ["c1", "c9"]
    merged = pg.conversation("c5")
    assert (merged.run_count, merged.ended_at) == (2, ended)
    assert (merged.first_at, merged.last_at) == (
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=6),
    )


def test_idle_time_and_the_filters_combined(both: Both) -> None:
    """Idle past idle_timeout counts as ended (its last activity as ended_at); feedback=,
    ended= and user_id= combine; both stores keep the same conversations."""
    now = datetime.now(timezone.utc)
    runs = [run(f"r{i}", f"c{i}", at=i, user_id="u" if i % 2 else "v") for i in range(6)]
    runs.append(run("fresh", "c-fresh", started_at=now, ended_at=now))
    events: list[Any] = [_given(f"f{i}", f"c{i}") for i in range(4)]
    events += [ConversationEnd("c1", T0), ConversationEnd("c4", T0)]
    for idle in (timedelta(minutes=5), 10**10):
        pg, lite = both(idle_timeout=idle, name="idle")
        if idle != 10**10:
            for sink in (pg, lite):
                sink.export(runs)
                sink.export_events(events)
        assert pg.conversations(None) == lite.conversations(None)
        for filters in (
            {"ended": True},
            {"ended": False},
            {"feedback": "thumbs", "user_id": "u"},
            {"feedback": "thumbs", "ended": False},
        ):
            assert _ids(pg, **filters) == _ids(lite, **filters)
    short, _ = both(idle_timeout=timedelta(minutes=5), name="idle")
    assert _ids(short, ended=False) == ["c-fresh"]
    assert short.conversation("c0").ended_at == short.conversation("c0").last_at
    assert sorted(_ids(pg, feedback="thumbs", ended=False)) == ["c0", "c2", "c3"]
    assert _ids(pg, ended=False)[0] == "c-fresh"


@pytest.mark.parametrize(
    "filters",
    [{"ended": "yes"}, {"ended": 1}, {"feedback": 3}, {"feedback": ""}, {"feedback": "k" * 201}],
    ids=str,
)
def test_bad_filter_values_are_the_same_error(both: Both, filters: dict[str, Any]) -> None:
    """A feedback or ended filter that cannot be used is the same ValueError on both."""
    messages = []
    for sink in both():
        with pytest.raises(ValueError) as caught:
            sink.conversations(**filters)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]


def test_bad_feedback_queries_and_idle_timeouts(both: Both) -> None:
    """feedback() with nothing to look for or not a string, and an idle_timeout that is not
    positive seconds, are refused alike."""
    for sink in both():
        with pytest.raises(ValueError, match="give a conversation_id or a run_id"):
            sink.feedback()
        with pytest.raises(ValueError, match="conversation_id: expected a string"):
            sink.feedback(5)
    with pytest.raises(ValueError, match="positive"):
        both(idle_timeout=0)
    with pytest.raises(TypeError, match="seconds or a timedelta"):
        both(idle_timeout="1h")


def test_prune_deletes_feedback_with_its_conversation(both: Both) -> None:
    """Pruning a conversation deletes its feedback; a newer conversation keeps its own."""
    now = datetime.now(timezone.utc)
    for sink in both():
        sink.export([run("r1", "old", at=0), run("r2", "new", started_at=now, ended_at=now)])
        sink.export_events([_given("f1", "old"), _given("f2", "new")])
        assert sink.prune(T0 + timedelta(days=1)) == 1
        assert sink.feedback("old") == []
        assert [f.feedback_id for f in sink.feedback("new")] == ["f2"]


def _send(url: str, schema: str, events: list[Any], start: Any) -> None:
    sink = PostgresSink(url, schema=schema)
    start.wait(60)
    for event in events:
        sink.export_events([event])
    sink.close()


def test_many_processes_send_the_same_events(postgres_url: str) -> None:
    """4 processes sending the same feedback and ends at once: each record stored once, the
    latest end kept, no error."""
    schema = fresh_schema()
    PostgresSink(postgres_url, schema=schema).close()
    events: list[Any] = [_given(f"f{n}", f"c{n % 5}") for n in range(40)]
    events += [ConversationEnd(f"c{n % 5}", T0 + timedelta(seconds=n)) for n in range(40)]
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(4)
    senders = [
        context.Process(target=_send, args=(postgres_url, schema, events[w::3] + events, start))
        for w in range(4)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(90)
    assert [s.exitcode for s in senders] == [0] * 4
    sink = PostgresSink(postgres_url, schema=schema, idle_timeout=NEVER_IDLE)
    by_id = {s.conversation_id: s for s in sink.conversations()}
    assert {cid: s.feedback_count for cid, s in by_id.items()} == {f"c{n}": 8 for n in range(5)}
    assert {cid: s.ended_at for cid, s in by_id.items()} == {
        f"c{n}": T0 + timedelta(seconds=35 + n) for n in range(5)
    }
    sink.close()


def test_a_version_1_schema_is_migrated_in_place(postgres_url: str) -> None:
    """A schema as convtrack-postgres 0.1 (version 1) made it opens, is migrated once, and
    keeps its runs; feedback is then stored in it."""
    from convtrack_postgres._schema import _VERSION_1
    from convtrack_postgres._write import write

    schema = fresh_schema()
    name = sql.Identifier(schema)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(name))
        conn.execute(sql.SQL("CREATE TABLE {}.schema_version (version integer)").format(name))
        for statement in _VERSION_1.split(";"):
            conn.execute(sql.SQL(statement).format(s=name))
        conn.execute(sql.SQL("INSERT INTO {}.schema_version VALUES (1)").format(name))
        write(conn, name, [run("r1", "c1"), run("r2", "c1", at=3)])
    sink = PostgresSink(postgres_url, schema=schema, idle_timeout=NEVER_IDLE)
    assert sink.count() == 2
    [summary] = sink.conversations()
    assert (summary.run_count, summary.feedback_count, summary.ended_at) == (2, 0, None)
    sink.export_events([_given("f1", "c1", user_id="alice")])
    assert [f.user_id for f in sink.feedback("c1")] == ["alice"]
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(sql.SQL("SELECT version FROM {}.schema_version").format(name))
        assert rows.fetchall() == [(2,)]
    assert sink.conversations()[0].feedback_count == 1
    sink.close()


async def test_viewer_and_cli_show_feedback_and_ends_on_postgres(postgres_url: str) -> None:
    """On a `postgresql://` store the viewer takes feedback (POST /api/feedback), lists by
    feedback and ended, shows both in a conversation; the CLI filters and shows them too."""
    import subprocess

    import httpx

    from convtrack.viewer import create_app

    sink = PostgresSink(postgres_url, schema=fresh_schema())
    sink.export([run("r1", "judged"), run("r2", "other", at=2)])
    sink.export_events([ConversationEnd("judged", T0 + timedelta(seconds=9))])
    url = f"{postgres_url}?schema={sink.schema}"
    app = create_app(url)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        body = {"conversation_id": "judged", "key": "thumbs", "score": 1, "comment": "good"}
        posted = await http.post("/api/feedback", json=body)
        assert posted.status_code == 201, posted.text
        listed = (await http.get("/api/conversations?feedback=thumbs&ended=true")).json()
        shown = (await http.get("/api/conversations/judged")).json()
        refused = await http.get("/api/conversations?ended=maybe")
    app.state.store.close()
    assert [c["conversation_id"] for c in listed["conversations"]] == ["judged"]
    assert listed["conversations"][0]["feedback_count"] == 1
    assert [(f["key"], f["score"], f["comment"]) for f in shown["feedback"]] == [
        ("thumbs", 1.0, "good")
    ]
    assert refused.status_code == 400
    [stored] = sink.feedback("judged")
    assert stored.feedback_id == posted.json()["feedback_id"]
    cli = [sys.executable, "-m", "convtrack.cli"]
    listed_cli = subprocess.run(
        [*cli, "conversations", "--db", url, "--feedback", "thumbs", "--ended"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert listed_cli.returncode == 0, listed_cli.stderr
    assert "judged" in listed_cli.stdout
    assert "other" not in listed_cli.stdout
    shown_cli = subprocess.run(
        [*cli, "show", "judged", "--db", url], capture_output=True, text=True, check=False
    )
    assert shown_cli.returncode == 0, shown_cli.stderr
    assert "ended 2026-03-01 00:00:09 UTC" in shown_cli.stdout
    assert "feedback thumbs" in shown_cli.stdout
    sink.close()
