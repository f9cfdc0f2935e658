"""flush() tells the truth, counts add up, a hung sink cannot hold the exit, memory is bounded."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

import convtrack as ct
from convtrack import Run


@ct.trace()
def step(i: int) -> int:
    return i


def _invariant_holds(stats: dict[str, object]) -> bool:
    counts = [stats[k] for k in ("emitted", "exported", "dropped", "failed", "queued")]
    emitted, exported, dropped, failed, queued = counts
    return emitted == exported + dropped + failed + queued  # type: ignore[operator]


def test_flush_returns_while_another_thread_keeps_emitting() -> None:
    """flush() waits for the runs emitted before it, not for those emitted meanwhile."""
    sink = ct.MemorySink()
    ct.configure([sink], grouping=False, export_interval=0.05)
    stop = threading.Event()

    def emitter() -> None:
        while not stop.is_set():
            for i in range(100):
                step(i)

    thread = threading.Thread(target=emitter)
    thread.start()
    try:
        time.sleep(0.2)
        started = time.perf_counter()
        assert ct.flush(5.0)
        assert time.perf_counter() - started < 5.0
    finally:
        stop.set()
        thread.join()
    assert ct.flush(5.0)
    assert _invariant_holds(ct.stats())


class FlakySink:
    """Refuses the first `failures` batches with a passing (transient) error."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.runs: list[Run] = []

    def export(self, runs: Sequence[Run]) -> None:
        if self.failures:
            self.failures -= 1
            err = OSError("busy, try again")
            err.transient = True  # type: ignore[attr-defined]
            raise err
        self.runs.extend(runs)

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self) -> None:
        pass


def test_a_passing_failure_is_retried_and_nothing_is_lost() -> None:
    """A batch refused twice for a passing reason is retried; flush() then answers True."""
    sink = FlakySink(failures=2)
    ct.configure([sink], grouping=False)
    for i in range(50):
        step(i)
    assert ct.flush(10.0)
    assert len(sink.runs) == 50
    stats = ct.stats()
    assert (stats["exported"], stats["failed"]) == (50, 0)


def test_flush_answers_false_when_a_sink_keeps_refusing(caplog: pytest.LogCaptureFixture) -> None:
    """Past the retry budget the batch is failed, counted as such, and flush() answers False."""
    sink = FlakySink(failures=1000)
    good = ct.MemorySink()
    ct.configure([good, sink], grouping=False)
    for i in range(20):
        step(i)
    assert ct.flush(10.0) is False
    stats = ct.stats()
    assert (stats["emitted"], stats["exported"], stats["failed"], stats["queued"]) == (20, 0, 20, 0)
    assert stats["sinks"]["FlakySink"] == {"exported": 0, "failed": 20}
    assert stats["sinks"]["MemorySink"] == {"exported": 20, "failed": 0}
    assert any("after 4 attempts" in r.getMessage() for r in caplog.records)
    sink.failures = 0  # the next runs go through: a later flush answers for them only
    step(1)
    assert ct.flush(10.0)
    assert _invariant_holds(ct.stats())


def test_a_locked_sqlite_store_is_waited_for(tmp_path: Path) -> None:
    """Another connection holds the write lock for 7 s: the batch is retried and stored."""
    path = tmp_path / "locked.db"
    store = ct.SQLiteSink(path)
    ct.configure([store], grouping=False)
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # the write lock
    threading.Timer(7.0, blocker.rollback).start()
    for i in range(100):
        step(i)
    assert ct.flush(30.0)
    blocker.close()
    stats = ct.stats()
    assert (stats["exported"], stats["failed"]) == (100, 0)
    assert store.count() == 100


def test_queue_is_bounded_in_bytes() -> None:
    """Large payloads count more: past max_queue_bytes, runs are dropped and counted."""

    class Blocked:
        def __init__(self) -> None:
            self.go = threading.Event()

        def export(self, runs: Sequence[Run]) -> None:
            self.go.wait(10)

        def flush(self, timeout: float | None = None) -> bool:
            return True

        def close(self) -> None:
            pass

    sink = Blocked()
    ct.configure([sink], grouping=False, max_queue_bytes=1_000_000, batch_size=10_000)
    big = "x" * 10_000
    for _ in range(500):
        with ct.trace("big") as run:
            run.set_output(big)
    stats = ct.stats()
    assert stats["dropped"] > 350  # about 95 runs of 10 KB fit in 1 MB
    assert stats["queued_bytes"] <= 1_000_000
    sink.go.set()
    assert ct.flush(10.0)
    assert _invariant_holds(ct.stats())


def _python(script: str, tmp_path: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(script))
    return subprocess.run(
        [sys.executable, str(path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
        check=False,
    )


def test_exit_with_a_hung_sink_is_bounded_and_says_what_is_lost(tmp_path: Path) -> None:
    """A sink that never returns holds the exit about 5 s; the runs left are logged; the sink
    is not closed while its export still runs."""
    started = time.monotonic()
    result = _python(
        """
        import logging, threading
        import convtrack as ct

        logging.basicConfig()

        class Hung:
            def export(self, runs):
                threading.Event().wait()
            def flush(self, timeout=None):
                return True
            def close(self):
                print("closed while exporting")

        ct.configure([Hung()], grouping=False, batch_size=100)
        for i in range(1000):
            with ct.trace("step"):
                pass
        """,
        tmp_path,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 15
    assert "closed while exporting" not in result.stdout
    assert "runs not exported" in result.stderr
    assert "1000 runs not exported" in result.stderr or "900 runs not exported" in result.stderr


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name == "nt", reason="POSIX signals")
def test_sigterm_flushes_then_ends_the_process(tmp_path: Path) -> None:
    """On SIGTERM the waiting runs are written, then the process ends by the signal."""
    result = _python(
        """
        import os, signal, time
        import convtrack as ct

        ct.configure([ct.SQLiteSink("runs.db")], grouping=False, export_interval=60)
        for i in range(300):
            with ct.trace("step"):
                pass
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)
        print("survived")
        """,
        tmp_path,
    )
    assert result.returncode == -signal.SIGTERM
    assert "survived" not in result.stdout
    store = ct.SQLiteSink(tmp_path / "runs.db", create=False)
    assert store.count() == 300
    store.close()


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name == "nt", reason="POSIX signals")
def test_sigterm_chains_the_handler_that_was_there(tmp_path: Path) -> None:
    """The app's own SIGTERM handler still runs, after the flush."""
    result = _python(
        """
        import os, signal, sys, time
        import convtrack as ct

        def mine(signum, frame):
            print("app handler ran")
            sys.stdout.flush()
            os._exit(3)

        signal.signal(signal.SIGTERM, mine)
        ct.configure([ct.SQLiteSink("runs.db")], grouping=False, export_interval=60)
        for i in range(50):
            with ct.trace("step"):
                pass
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)
        """,
        tmp_path,
    )
    assert result.returncode == 3
    assert "app handler ran" in result.stdout
    store = ct.SQLiteSink(tmp_path / "runs.db", create=False)
    assert store.count() == 50
    store.close()
