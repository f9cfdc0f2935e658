"""Deadline: blocking calls on a few daemon threads, each waited for at most its timeout."""

from __future__ import annotations

import contextvars
import threading
import time

import pytest
from convtrack_redis._deadline import Deadline, DeadlineExceeded

REQUEST = contextvars.ContextVar("REQUEST", default="none")


def test_a_call_returns_its_result_or_raises_its_error() -> None:
    """A quick call gives its value; an exception reaches the caller unchanged."""
    deadline = Deadline(1.0)
    assert deadline.run(pow, 2, 10) == 1024
    with pytest.raises(KeyError, match="missing"):
        deadline.run({}.__getitem__, "missing")


def test_a_call_runs_in_the_callers_context() -> None:
    """Context variables set by the caller are visible inside the call."""
    deadline = Deadline(1.0)
    REQUEST.set("req-1")
    assert deadline.run(REQUEST.get) == "req-1"


def test_hung_calls_are_cut_off_and_occupy_at_most_max_workers_threads() -> None:
    """Twenty hanging calls each return after ~timeout; no more than 3 threads ever wait."""
    release = threading.Event()
    deadline = Deadline(0.05, max_workers=3, name="deadline-test")
    try:
        for _ in range(20):
            started = time.perf_counter()
            with pytest.raises(DeadlineExceeded, match=r"no answer within 0\.05s"):
                deadline.run(release.wait)
            assert time.perf_counter() - started < 0.05 + 0.1
        workers = [t for t in threading.enumerate() if t.name.startswith("deadline-test")]
        assert len(workers) == 3
        assert all(t.daemon for t in workers)
    finally:
        release.set()
    time.sleep(0.05)
    assert deadline.run(pow, 3, 2) == 9  # the workers are free again


def test_workers_left_without_work_end_and_come_back_when_needed() -> None:
    """After idle_exit seconds without calls the workers end; the next call starts one again."""
    deadline = Deadline(1.0, name="idle-test")
    deadline.idle_exit = 0.05

    def workers() -> int:
        return len([t for t in threading.enumerate() if t.name.startswith("idle-test")])

    assert deadline.run(pow, 2, 3) == 8
    assert workers() == 1
    time.sleep(0.3)
    assert workers() == 0
    assert deadline.run(pow, 2, 4) == 16


def test_a_worker_that_cannot_start_is_not_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thread start fails (as at interpreter exit): the call raises; later calls still run."""
    deadline = Deadline(1.0, max_workers=1)
    start = threading.Thread.start

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    with pytest.raises(RuntimeError, match="can't create new thread"):
        deadline.run(pow, 2, 2)
    monkeypatch.setattr(threading.Thread, "start", start)
    assert deadline.run(pow, 2, 5) == 32
