"""The SQLite store keeps feedback and conversation ends: filters, idle time, summaries."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from store_support import T0, run

import convtrack as ct
from convtrack import ConversationEnd, Feedback, SQLiteSink
from convtrack.sinks._query import filters
from convtrack.sinks._sqlite import FEEDBACK_COUNT


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


def _ids(sink: SQLiteSink, **filters: object) -> list[str]:
    return [s.conversation_id for s in sink.conversations(None, **filters)]  # type: ignore[arg-type]


def test_feedback_and_end_through_the_pipeline(tmp_path: Path) -> None:
    """configure([SQLiteSink]): feedback rows and the end time are stored and read back."""
    sink = SQLiteSink(tmp_path / "s.db")
    ct.configure([sink], grouping=False)
    with ct.conversation("conv-1", user_id="alice"):
        with ct.trace("step") as step:
            pass
        on_run = ct.feedback(run_id=step.run_id, key="correct", value={"label": "yes"})
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
    assert _ids(sink, ended=True) == ["conv-1"]
    assert _ids(sink, ended=False) == []
    assert _ids(sink, feedback="thumbs") == ["conv-1"]
    assert _ids(sink, feedback="other") == []


def test_feedback_is_idempotent_on_its_id(tmp_path: Path) -> None:
    """The same feedback record exported twice is stored once."""
    sink = SQLiteSink(tmp_path / "s.db")
    sink.export([run("r1", "c1")])
    given = _feedback("f-1", "c1")
    sink.export_events([given])
    sink.export_events([given, given])
    assert sink.feedback("c1") == [given]
    assert sink.conversations()[0].feedback_count == 1


def test_feedback_on_a_run_alone_takes_the_runs_conversation(tmp_path: Path) -> None:
    """Feedback naming only a stored run is kept under that run's conversation."""
    sink = SQLiteSink(tmp_path / "s.db")
    sink.export([run("r1", "c9")])
    sink.export_events([_feedback("f-1", None, run_id="r1")])
    [stored] = sink.feedback("c9")
    assert (stored.conversation_id, stored.run_id) == ("c9", "r1")
    assert _ids(sink, feedback="thumbs") == ["c9"]


def test_an_end_before_any_run_makes_a_row_the_runs_merge_into(tmp_path: Path) -> None:
    """An ended conversation with no runs gets a row; runs arriving later fill it in."""
    sink = SQLiteSink(tmp_path / "s.db", idle_timeout=100 * 365 * 86400.0)
    ended = T0 + timedelta(seconds=60)
    sink.export_events([ConversationEnd("c1", ended)])
    [empty] = sink.conversations()
    assert (empty.run_count, empty.ended_at, empty.last_at) == (0, ended, ended)
    sink.export([run("r1", "c1", at=1), run("r2", "c1", at=5)])
    [summary] = sink.conversations()
    assert summary.run_count == 2
    assert (summary.first_at, summary.last_at) == (
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=6),
    )
    assert summary.ended_at == ended
    assert _ids(sink, ended=True) == ["c1"]


def test_the_latest_end_wins(tmp_path: Path) -> None:
    """Two ends of one conversation: the later time is kept, whatever the order."""
    sink = SQLiteSink(tmp_path / "s.db")
    sink.export([run("r1", "c1")])
    late, early = T0 + timedelta(seconds=90), T0 + timedelta(seconds=10)
    sink.export_events([ConversationEnd("c1", late), ConversationEnd("c1", early)])
    assert sink.conversations()[0].ended_at == late


def test_idle_conversations_count_as_ended(tmp_path: Path) -> None:
    """Idle past idle_timeout counts as ended (its last activity as ended_at); fresh is open."""
    sink = SQLiteSink(tmp_path / "s.db", idle_timeout=timedelta(minutes=5))
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
    assert _ids(SQLiteSink(tmp_path / "s.db", idle_timeout=10**10), ended=False) == [
        "c-fresh",
        "c-old",
    ]


def test_feedback_and_ended_combine_with_other_filters(tmp_path: Path) -> None:
    """feedback=, ended= and user_id= together keep only what matches all three."""
    sink = SQLiteSink(tmp_path / "s.db")
    sink.export([run(f"r{i}", f"c{i}", at=i, user_id="u" if i % 2 else "v") for i in range(6)])
    sink.export_events([_feedback(f"f{i}", f"c{i}") for i in range(4)])
    sink.export_events([ConversationEnd("c1", T0), ConversationEnd("c4", T0)])
    assert sorted(_ids(sink, feedback="thumbs")) == ["c0", "c1", "c2", "c3"]
    assert sorted(_ids(sink, feedback="thumbs", user_id="u")) == ["c1", "c3"]
    long_idle = SQLiteSink(tmp_path / "s.db", idle_timeout=10**10)
    assert _ids(long_idle, feedback="thumbs", ended=True) == ["c1"]
    assert sorted(_ids(long_idle, feedback="thumbs", ended=False)) == ["c0", "c2", "c3"]


@pytest.mark.parametrize(
    ("filters", "match"),
    [
        ({"ended": "yes"}, "ended: expected True or False"),
        ({"ended": 1}, "ended: expected True or False"),
        ({"feedback": 3}, "feedback: expected a string"),
        ({"feedback": ""}, "feedback: expected a non-empty"),
        ({"feedback": "k" * 201}, "feedback: longer than"),
    ],
)
def test_bad_filter_values_raise_value_error(
    tmp_path: Path, filters: dict[str, object], match: str
) -> None:
    """A feedback or ended filter that cannot be used is a ValueError saying which."""
    sink = SQLiteSink(tmp_path / "s.db")
    with pytest.raises(ValueError, match=match):
        sink.conversations(**filters)  # type: ignore[arg-type]


def test_bad_feedback_queries_raise_value_error(tmp_path: Path) -> None:
    """SQLiteSink.feedback() with nothing to look for, or not a string, is a ValueError."""
    sink = SQLiteSink(tmp_path / "s.db")
    with pytest.raises(ValueError, match="give a conversation_id or a run_id"):
        sink.feedback()
    with pytest.raises(ValueError, match="conversation_id: expected a string"):
        sink.feedback(5)  # type: ignore[arg-type]


def test_bad_idle_timeouts_are_refused(tmp_path: Path) -> None:
    """idle_timeout must be a positive number of seconds or a timedelta."""
    with pytest.raises(ValueError, match="positive"):
        SQLiteSink(tmp_path / "s.db", idle_timeout=0)
    with pytest.raises(TypeError, match="seconds or a timedelta"):
        SQLiteSink(tmp_path / "s.db", idle_timeout="1h")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "given", [{"ended": True}, {"ended": False}, {"feedback": "thumbs"}], ids=str
)
def test_the_new_filters_read_indexes_not_the_runs(
    tmp_path: Path, given: dict[str, object]
) -> None:
    """EXPLAIN QUERY PLAN of the list query: no runs table, no scan of feedback."""
    sink = SQLiteSink(tmp_path / "s.db")
    sink.export([run(f"r{i}", f"c{i}") for i in range(20)])
    sink.export_events([_feedback("f1", "c1")])
    sink.close()
    found = filters(**given, idle_before=0)  # type: ignore[arg-type]
    sql = (
        f"SELECT c.conversation_id, {FEEDBACK_COUNT} FROM conversations AS c"
        f" WHERE {' AND '.join(found.where)} ORDER BY c.last_at DESC, c.conversation_id LIMIT 50"
    )
    conn = sqlite3.connect(tmp_path / "s.db")
    plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, found.params))
    conn.close()
    assert "runs" not in plan, plan
    assert "SCAN f" not in plan, plan
    assert "SCAN feedback" not in plan, plan
    assert "USING" in plan, plan


def test_prune_removes_feedback_and_ended_rows(tmp_path: Path) -> None:
    """prune() deletes old conversations' feedback, and rows made by an end alone."""
    sink = SQLiteSink(tmp_path / "s.db")
    sink.export([run("r1", "c1")])
    sink.export_events([_feedback("f1", "c1"), ConversationEnd("c-empty", T0)])
    assert sink.prune(T0 + timedelta(days=1)) == 2
    assert sink.feedback("c1") == []
    assert sink.conversations() == []


def test_a_version_2_store_without_the_feedback_column_is_completed(tmp_path: Path) -> None:
    """A store written before feedback was recorded gains feedback.user_id when opened."""
    path = tmp_path / "s.db"
    first = SQLiteSink(path)
    first.export([run("r1", "c1")])
    first.close()
    conn = sqlite3.connect(path)
    for index in ("feedback_by_key", "feedback_by_run", "conversations_ended"):
        conn.execute(f"DROP INDEX {index}")
    conn.execute("ALTER TABLE feedback DROP COLUMN user_id")
    conn.commit()
    conn.close()
    sink = SQLiteSink(path, create=False)
    given = _feedback("f1", "c1", user_id="alice")
    sink.export_events([given])
    assert sink.feedback("c1") == [given]
    assert len(sink.runs("c1")) == 1
