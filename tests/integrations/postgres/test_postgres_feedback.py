"""Feedback and conversation ends in the PostgreSQL store, checked beside the SQLite store:
the same records, filters, idle rule, summaries, pruning, and one atomic write each."""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Iterator
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

sys.path.insert(0, str(Path(__file__).parents[2] / "core" / "store"))
from store_support import NEVER_IDLE, T0, run

Make = Callable[..., Any]


@pytest.fixture(params=["sqlite", "postgres"])
def make(request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str) -> Iterator[Make]:
    """Opens stores of one kind (`make(idle_timeout=...)`; `make(name=...)` opens one again)."""
    opened: list[Any] = []
    own = fresh_schema()

    def open_one(idle_timeout: Any = 1800.0, name: str = "") -> Any:
        if request.param == "postgres":
            sink: Any = PostgresSink(
                postgres_url, schema=name or f"{own}_{len(opened)}", idle_timeout=idle_timeout
            )
        else:
            sink = SQLiteSink(tmp_path / f"{name or len(opened)}.db", idle_timeout=idle_timeout)
        opened.append(sink)
        return sink

    yield open_one
    for sink in opened:
        sink.close()


def _feedback(fid: str, cid: str | None, key: str = "thumbs", **fields: object) -> Feedback:
    values: dict[str, object] = {
        "feedback_id": fid,
        "conversation_id": cid,
        "run_id": None,
        "key": key,
        "score": 1.0,
        "value": None,
        "comment": None,
        "user_id": None,
        "created_at": T0 + timedelta(seconds=30),
    }
    values.update(fields)
    return Feedback(**values)  # type: ignore[arg-type]


def _ids(sink: Any, **filters: object) -> list[str]:
    return [s.conversation_id for s in sink.conversations(None, **filters)]


def test_feedback_and_end_through_the_pipeline(make: Make) -> None:
    """configure([store]): feedback rows and the end time are stored and read back whole."""
    sink = make()
    ct.configure([sink], grouping=False)
    with ct.conversation("conv-1", user_id="alice"):
        with ct.trace("step") as step:
            pass
        on_run = ct.feedback(run_id=step.run_id, key="correct", value={"label": "yes", "n": 2})
        on_conv = ct.feedback(key="thumbs", score=1, comment="great")
        end = ct.end_conversation()
    assert ct.flush()
    assert on_run is not None
    assert on_conv is not None
    assert end is not None
    assert sink.feedback("conv-1") == [on_run, on_conv]
    assert sink.feedback(run_id=step.run_id) == [on_run]
    [summary] = sink.conversations()
    assert summary.feedback_count == 2
    assert summary.ended_at == end.ended_at
    assert sink.conversation("conv-1") == summary
    assert _ids(sink, ended=True) == ["conv-1"]
    assert _ids(sink, ended=False) == []
    assert _ids(sink, feedback="thumbs") == ["conv-1"]
    assert _ids(sink, feedback="other") == []


def test_feedback_is_idempotent_and_takes_a_runs_conversation(make: Make) -> None:
    """The same record exported twice is stored once; feedback naming only a stored run is
    kept under that run's conversation."""
    sink = make()
    sink.export([run("r1", "c1"), run("r9", "c9")])
    given = _feedback("f-1", "c1")
    sink.export_events([given])
    sink.export_events([given, given])
    sink.export_events([_feedback("f-2", None, run_id="r9", comment="nul\x00")])
    assert sink.feedback("c1") == [given]
    assert sink.conversations(1)[0].feedback_count == 1
    [stored] = sink.feedback("c9")
    assert (stored.conversation_id, stored.run_id) == ("c9", "r9")
    assert _ids(sink, feedback="thumbs") == ["c1", "c9"]


def test_an_end_before_any_run_makes_a_row_the_runs_merge_into(make: Make) -> None:
    """An ended conversation with no runs gets a row; runs arriving later fill it in; the
    latest of two ends wins, whatever their order."""
    sink = make(idle_timeout=NEVER_IDLE)
    ended, early = T0 + timedelta(seconds=60), T0 + timedelta(seconds=10)
    sink.export_events([ConversationEnd("c1", ended), ConversationEnd("c1", early)])
    [empty] = sink.conversations()
    assert (empty.run_count, empty.ended_at, empty.last_at) == (0, ended, ended)
    sink.export([run("r1", "c1", at=1), run("r2", "c1", at=5)])
    sink.export_events([ConversationEnd("c1", early)])
    [summary] = sink.conversations()
    assert summary.run_count == 2
    assert (summary.first_at, summary.last_at) == (
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=6),
    )
    assert summary.ended_at == ended
    assert _ids(sink, ended=True) == ["c1"]


def test_idle_conversations_count_as_ended(make: Make) -> None:
    """Idle past idle_timeout counts as ended (its last activity as ended_at); fresh is open."""
    sink = make(idle_timeout=timedelta(minutes=5), name="idle")
    now = datetime.now(timezone.utc)
    sink.export(
        [
            run("old", "c-old", at=0),
            run("fresh", "c-fresh", started_at=now, ended_at=now),
            run("told", "c-told", started_at=now, ended_at=now),
        ]
    )
    sink.export_events([ConversationEnd("c-told", now)])
    assert sorted(_ids(sink, ended=True)) == ["c-old", "c-told"]
    assert _ids(sink, ended=False) == ["c-fresh"]
    by_id = {s.conversation_id: s for s in sink.conversations()}
    assert by_id["c-old"].ended_at == by_id["c-old"].last_at
    assert by_id["c-fresh"].ended_at is None
    assert _ids(make(idle_timeout=10**10, name="idle"), ended=False) == ["c-fresh", "c-old"]


def test_feedback_and_ended_combine_with_other_filters(make: Make) -> None:
    """feedback=, ended= and user_id= together keep only what matches all three."""
    sink = make(name="combined")
    sink.export([run(f"r{i}", f"c{i}", at=i, user_id="u" if i % 2 else "v") for i in range(6)])
    sink.export_events([_feedback(f"f{i}", f"c{i}") for i in range(4)])
    sink.export_events([ConversationEnd("c1", T0), ConversationEnd("c4", T0)])
    assert sorted(_ids(sink, feedback="thumbs")) == ["c0", "c1", "c2", "c3"]
    assert sorted(_ids(sink, feedback="thumbs", user_id="u")) == ["c1", "c3"]
    long_idle = make(idle_timeout=10**10, name="combined")
    assert _ids(long_idle, feedback="thumbs", ended=True) == ["c1"]
    assert sorted(_ids(long_idle, feedback="thumbs", ended=False)) == ["c0", "c2", "c3"]


@pytest.mark.parametrize(
    ("filters", "match"),
    [
        ({"ended": "yes"}, "ended: expected True or False"),
        ({"ended": 1}, "ended: expected True or False"),
        ({"feedback": 3}, "feedback: expected a string"),
        ({"feedback": ""}, "feedback: expected a non-empty"),
        ({"feedback": "k" * 201}, "feedback: longer than 200"),
    ],
)
def test_bad_filter_values_raise_value_error(
    make: Make, filters: dict[str, object], match: str
) -> None:
    """A feedback or ended filter that cannot be used is the same ValueError on both stores."""
    with pytest.raises(ValueError, match=match):
        make().conversations(**filters)


def test_bad_feedback_queries_and_idle_timeouts(make: Make) -> None:
    """feedback() with nothing to look for or not a string, and an idle_timeout that is not
    positive seconds, are refused alike."""
    sink = make()
    with pytest.raises(ValueError, match="give a conversation_id or a run_id"):
        sink.feedback()
    with pytest.raises(ValueError, match="conversation_id: expected a string"):
        sink.feedback(5)
    with pytest.raises(ValueError, match="positive"):
        make(idle_timeout=0)
    with pytest.raises(TypeError, match="seconds or a timedelta"):
        make(idle_timeout="1h")


def test_prune_deletes_feedback_with_its_conversation(make: Make) -> None:
    """Pruning a conversation deletes its feedback; a newer conversation keeps its own."""
    sink = make()
    now = datetime.now(timezone.utc)
    sink.export([run("r1", "old", at=0), run("r2", "new", started_at=now, ended_at=now)])
    sink.export_events([_feedback("f1", "old"), _feedback("f2", "new")])
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
    events: list[Any] = [_feedback(f"f{n}", f"c{n % 5}") for n in range(40)]
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
    sink.export_events([_feedback("f1", "c1", user_id="alice")])
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
