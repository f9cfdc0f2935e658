"""Feedback and conversation ends: checked arguments, the current-conversation default, and
their way through the pipeline (in order with runs, flushed, counted apart) to every sink."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import convtrack as ct
from convtrack import ConversationEnd, Feedback, Run


def test_before_configure_feedback_and_end_do_nothing() -> None:
    """Before configure(), feedback() and end_conversation() record nothing and return None."""
    before = ct.stats()["events"]  # the last pipeline's counts (none at all in a fresh process)
    assert ct.feedback("conv-1", key="thumbs", score=1) is None
    assert ct.end_conversation("conv-1") is None
    assert ct.stats()["events"] == before


def test_feedback_defaults_to_the_current_conversation(memory_sink: ct.MemorySink) -> None:
    """Inside a conversation, feedback() and end_conversation() name it, with its user."""
    with ct.conversation("conv-7", user_id="alice"):
        given = ct.feedback(key="thumbs", score=1, value={"why": "clear"}, comment="nice")
        ended = ct.end_conversation()
    assert ct.flush()
    assert isinstance(given, Feedback)
    assert isinstance(ended, ConversationEnd)
    assert memory_sink.events == (given, ended)
    assert given.conversation_id == "conv-7"
    assert given.user_id == "alice"
    assert (given.key, given.score, given.value, given.comment) == (
        "thumbs",
        1.0,
        {"why": "clear"},
        "nice",
    )
    assert given.run_id is None
    assert len(given.feedback_id) == 36
    assert ended.conversation_id == "conv-7"
    assert memory_sink.runs == ()


def test_a_named_conversation_wins_and_gets_no_foreign_user(memory_sink: ct.MemorySink) -> None:
    """An explicit id is used as given; the current conversation's user is not lent to it."""
    with ct.conversation("conv-a", user_id="alice"):
        given = ct.feedback("conv-b", key="thumbs", score=0)
    assert given is not None
    assert (given.conversation_id, given.user_id) == ("conv-b", None)


def test_feedback_on_a_run_alone_is_allowed(memory_sink: ct.MemorySink) -> None:
    """Outside any conversation, feedback with run_id= only is recorded on that run."""
    with ct.trace("step") as step:
        pass
    run_id = step.run_id
    given = ct.feedback(run_id=run_id, key="correct", value=True)
    assert ct.flush()
    assert given is not None
    assert (given.conversation_id, given.run_id) == (None, run_id)
    assert memory_sink.events == (given,)


def test_without_any_conversation_they_raise_a_clear_value_error(
    memory_sink: ct.MemorySink,
) -> None:
    """No id, no current conversation (and for feedback no run): a ValueError says so."""
    with pytest.raises(ValueError, match="no current conversation"):
        ct.feedback(key="thumbs", score=1)
    with pytest.raises(ValueError, match="no current conversation"):
        ct.end_conversation()
    assert ct.stats()["events"]["emitted"] == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"key": 3}, TypeError, "key must be a str"),
        ({"key": ""}, ValueError, "non-empty"),
        ({"key": "  "}, ValueError, "non-empty"),
        ({"key": "k" * 201}, ValueError, "at most 200"),
        ({"key": "k", "score": True}, TypeError, "score must be a number"),
        ({"key": "k", "score": "1"}, TypeError, "score must be a number"),
        ({"key": "k", "score": float("nan")}, ValueError, "finite"),
        ({"key": "k", "value": {1, 2}}, TypeError, "JSON-able"),
        ({"key": "k", "value": object()}, TypeError, "JSON-able"),
        ({"key": "k", "value": float("inf")}, TypeError, "JSON-able"),
        ({"key": "k", "comment": 5}, TypeError, "comment must be a str"),
        ({"key": "k", "run_id": 5}, TypeError, "run_id must be a str"),
    ],
)
def test_bad_feedback_arguments_raise(
    memory_sink: ct.MemorySink, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    """Each wrong argument gives a TypeError or ValueError naming it; nothing is recorded."""
    with pytest.raises(error, match=match):
        ct.feedback("conv-1", **kwargs)
    assert ct.stats()["events"]["emitted"] == 0


def test_bad_conversation_ids_raise(memory_sink: ct.MemorySink) -> None:
    """A conversation id that is not a non-empty str is refused by both functions."""
    with pytest.raises(TypeError):
        ct.end_conversation(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ct.end_conversation("")
    with pytest.raises(TypeError):
        ct.feedback(42, key="k")  # type: ignore[arg-type]


def test_events_reach_sinks_in_order_with_runs_and_are_counted_apart(
    memory_sink: ct.MemorySink,
) -> None:
    """Runs and events interleaved: the sink sees both in emission order; stats count apart."""
    order: list[str] = []

    class Recording(ct.MemorySink):
        def export(self, runs: Sequence[Run]) -> None:
            order.extend(f"run:{r.name}" for r in runs)

        def export_events(self, events: Sequence[Any]) -> None:
            order.extend(f"event:{type(e).__name__}" for e in events)

    recording = Recording()
    ct.configure([memory_sink, recording], grouping=False, export_interval=60)
    with ct.conversation("conv-o"):
        with ct.trace("one"):
            pass
        ct.feedback(key="thumbs", score=1)
        with ct.trace("two"):
            pass
        ct.end_conversation()
    assert ct.flush()  # waits for events too (the worker would wait 60 s otherwise)
    assert order == ["run:one", "event:Feedback", "run:two", "event:ConversationEnd"]
    stats = ct.stats()
    assert (stats["emitted"], stats["exported"], stats["queued"]) == (2, 2, 0)
    assert stats["events"] == {"emitted": 2, "exported": 2, "failed": 0, "dropped": 0, "queued": 0}
    assert stats["sinks"]["MemorySink"] == {"exported": 2, "failed": 0}


class RunsOnlySink:
    """A sink written against the Sink protocol alone (no export_events)."""

    def __init__(self) -> None:
        self.runs: list[Run] = []

    def export(self, runs: Sequence[Run]) -> None:
        self.runs.extend(runs)

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self) -> None:
        pass


def test_a_sink_without_export_events_keeps_working_and_gets_runs_only() -> None:
    """A protocol-only sink receives its runs; events pass it by without failure."""
    old = RunsOnlySink()
    memory = ct.MemorySink()
    ct.configure([old, memory], grouping=False)
    with ct.conversation("conv-p"):
        with ct.trace("step"):
            pass
        ct.feedback(key="thumbs", score=1)
        ct.end_conversation()
    assert ct.flush()
    assert [r.name for r in old.runs] == ["step"]
    assert len(memory.events) == 2
    assert ct.stats()["events"]["failed"] == 0


class FailingEventsSink(RunsOnlySink):
    """Takes runs, refuses events."""

    def export_events(self, events: Sequence[Any]) -> None:
        raise OSError("no room for events")


def test_a_sink_failing_events_is_counted_and_flush_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A sink raising in export_events: logged, counted as failed events, flush() is False."""
    ct.configure([FailingEventsSink()], grouping=False)
    with ct.conversation("conv-f"):
        with ct.trace("step"):
            pass
        ct.feedback(key="thumbs", score=1)
    assert not ct.flush()
    stats = ct.stats()
    assert (stats["exported"], stats["failed"]) == (1, 0)
    assert stats["events"]["failed"] == 1
    assert stats["events"]["exported"] == 0
    assert "export_events" in caplog.text


def test_a_full_queue_drops_and_counts_events() -> None:
    """Events that do not fit in the queue are dropped and counted, never raised."""
    gate = threading.Event()

    class Slow(RunsOnlySink):
        def export_events(self, events: Sequence[Any]) -> None:
            gate.wait(5)

    ct.configure([Slow()], grouping=False, max_queue_size=2, batch_size=1)
    for _ in range(10):
        ct.feedback("conv-q", key="thumbs", score=1)
    gate.set()
    assert ct.flush()
    events = ct.stats()["events"]
    assert events["dropped"] >= 1
    assert events["emitted"] == 10 == events["exported"] + events["dropped"]


def test_clear_forgets_events(memory_sink: ct.MemorySink) -> None:
    """MemorySink.clear() forgets events as well as runs."""
    ct.end_conversation("conv-c")
    assert ct.flush()
    assert len(memory_sink.events) == 1
    memory_sink.clear()
    assert not memory_sink.events


def test_jsonl_writes_one_line_per_event_beside_unchanged_run_lines(tmp_path: Path) -> None:
    """JSONLSink: run lines as before, event lines with `record` feedback/conversation_end."""
    path = tmp_path / "runs.jsonl"
    ct.configure([ct.JSONLSink(path)], grouping=False)
    with ct.conversation("conv-j", user_id="bob"):
        with ct.trace("step") as step:
            pass
        given = ct.feedback(run_id=step.run_id, key="rating", score=4, comment="ok")
        ct.end_conversation()
    assert ct.shutdown()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line.get("record") for line in lines] == [None, "feedback", "conversation_end"]
    run, feedback, end = lines
    assert run["name"] == "step"
    assert "record" not in run
    assert given is not None
    assert feedback == {
        "record": "feedback",
        "feedback_id": given.feedback_id,
        "conversation_id": "conv-j",
        "run_id": step.run_id,
        "key": "rating",
        "score": 4.0,
        "value": None,
        "comment": "ok",
        "user_id": "bob",
        "created_at": given.created_at.isoformat(),
    }
    assert end["conversation_id"] == "conv-j"
    assert end["ended_at"].endswith("+00:00")
