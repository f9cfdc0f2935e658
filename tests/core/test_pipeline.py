"""The dispatcher: batches, bounded queue, failing sinks, flush, shutdown, fork."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Sequence

import pytest

import convtrack as ct
from convtrack import Run


def _work(n: int) -> None:
    step = ct.trace("w")
    for _ in range(n):
        with step:
            pass


def test_four_writer_threads_then_shutdown_lose_nothing(tmp_path: os.PathLike[str]) -> None:
    """4 threads emitting runs, then shutdown(): every run reaches every sink."""
    memory = ct.MemorySink()
    sqlite = ct.SQLiteSink(os.path.join(tmp_path, "runs.db"))
    ct.configure([memory, sqlite], grouping=False)
    threads = [threading.Thread(target=_work, args=(2500,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ct.shutdown(30.0)
    assert len(memory.runs) == 10_000
    assert len({r.run_id for r in memory.runs}) == 10_000
    stats = ct.stats()
    assert {k: stats[k] for k in ("emitted", "exported", "dropped", "failed", "queued")} == {
        "emitted": 10_000,
        "exported": 10_000,
        "dropped": 0,
        "failed": 0,
        "queued": 0,
    }
    assert stats["sinks"] == {
        "MemorySink": {"exported": 10_000, "failed": 0},
        "SQLiteSink": {"exported": 10_000, "failed": 0},
    }
    reopened = ct.SQLiteSink(os.path.join(tmp_path, "runs.db"))
    assert reopened.count() == 10_000
    reopened.close()


class ExplodingSink:
    """A sink that raises on every call."""

    def export(self, runs: Sequence[Run]) -> None:
        raise OSError("disk on fire")

    def flush(self, timeout: float | None = None) -> bool:
        raise OSError("still on fire")

    def close(self) -> None:
        raise OSError("cannot close")


def test_failing_sink_is_isolated(caplog: pytest.LogCaptureFixture) -> None:
    """A sink raising on every export is logged (rate-limited) and counted; others get all runs."""
    good = ct.MemorySink()
    ct.configure([ExplodingSink(), good], grouping=False, batch_size=10)
    with caplog.at_level(logging.WARNING, logger="convtrack"):
        _work(100)
        ct.flush()
        _work(100)
        ct.shutdown()
    assert len(good.runs) == 200
    stats = ct.stats()
    assert (stats["emitted"], stats["exported"], stats["failed"], stats["dropped"]) == (
        200,
        0,  # a run is exported only when every sink took it
        200,
        0,
    )
    assert stats["sinks"] == {
        "ExplodingSink": {"exported": 0, "failed": 200},
        "MemorySink": {"exported": 200, "failed": 0},
    }
    messages = [r.getMessage() for r in caplog.records]
    export_lines = [m for m in messages if m.startswith("convtrack: sink ExplodingSink failed")]
    assert len(export_lines) == 1  # 20 failing batches, one log line


class SlowSink:
    """A sink that blocks until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.count = 0

    def export(self, runs: Sequence[Run]) -> None:
        self.release.wait(10)
        self.count += len(runs)

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self) -> None:
        pass


def test_full_queue_drops_and_counts_without_blocking() -> None:
    """When the queue is full runs are dropped and counted; the app never blocks."""
    slow = SlowSink()
    ct.configure([slow], grouping=False, max_queue_size=100, batch_size=10)
    start = time.perf_counter()
    _work(1000)
    elapsed = time.perf_counter() - start
    slow.release.set()
    ct.flush(10)
    stats = ct.stats()
    assert stats["dropped"] > 0
    assert stats["emitted"] == 1000 == stats["exported"] + stats["dropped"] + stats["failed"]
    assert slow.count == stats["exported"]
    assert elapsed < 5  # generous: it must not have waited for the blocked sink (10 s)


def test_burst_below_bound_loses_nothing() -> None:
    """A burst smaller than max_queue_size is delivered whole."""
    slow = SlowSink()
    ct.configure([slow], grouping=False, max_queue_size=5000)
    _work(3000)
    slow.release.set()
    assert ct.flush(10)
    assert ct.stats()["dropped"] == 0
    assert slow.count == 3000


def test_configure_again_replaces_and_flushes() -> None:
    """configure() twice: the first pipeline's runs are flushed to its sinks first."""
    first, second = ct.MemorySink(), ct.MemorySink()
    ct.configure([first], grouping=False)
    _work(5)
    ct.configure([second], grouping=False)
    _work(3)
    ct.flush()
    assert (len(first.runs), len(second.runs)) == (5, 3)


def test_shutdown_then_configure_starts_afresh(tmp_path: os.PathLike[str]) -> None:
    """After shutdown() nothing is recorded; configure() again records into a reopened store."""
    path = os.path.join(tmp_path, "c.db")
    ct.configure([ct.SQLiteSink(path)], grouping=False)
    _work(2)
    ct.shutdown()
    _work(2)  # not recorded
    ct.configure([ct.SQLiteSink(path)], grouping=False)
    _work(3)
    ct.shutdown()
    store = ct.SQLiteSink(path)
    assert store.count() == 5
    store.close()


def test_sinks_by_name_and_bad_sinks(
    tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sinks may be named; unknown names and non-sinks are clear errors."""
    monkeypatch.chdir(tmp_path)
    ct.configure(["memory", "jsonl"], grouping=False)
    ct.configure(grouping=False)  # default: ./convtrack.db
    _work(1)
    ct.shutdown()
    assert os.path.exists("convtrack.db")
    assert os.path.exists("convtrack.jsonl")
    with pytest.raises(ValueError, match="unknown sink name 'nope'"):
        ct.configure(["nope"])
    with pytest.raises(TypeError, match="is not a sink"):
        ct.configure([object()])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="list of sinks"):
        ct.configure("memory")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_queue_size"):
        ct.configure([], max_queue_size=0)
    with pytest.raises(TypeError, match="grouping"):
        ct.configure([], grouping="yes")  # type: ignore[arg-type]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_restarts_the_dispatcher(tmp_path: os.PathLike[str]) -> None:
    """A forked child records its own runs through a fresh dispatcher thread."""
    path = os.path.join(tmp_path, "fork.db")
    ct.configure([ct.SQLiteSink(path)], grouping=False)
    _work(3)
    ct.flush()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            with ct.conversation("from-child"):
                _work(4)
            code = 0 if ct.flush(10) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    ct.shutdown()
    store = ct.SQLiteSink(path)
    assert store.count() == 7
    assert [s.run_count for s in store.conversations()] == [4]
    store.close()


def test_stats_before_configure() -> None:
    """stats() works before anything was configured."""
    assert set(ct.stats()) >= {"emitted", "exported", "dropped", "failed"}


def test_flush_times_out_on_stuck_sink() -> None:
    """flush() returns False when a sink does not finish in time."""
    slow = SlowSink()
    ct.configure([slow], grouping=False)
    _work(1)
    assert ct.flush(0.2) is False
    slow.release.set()
    assert ct.flush(10) is True


def test_python_version_guard() -> None:
    """The suite runs on a supported Python."""
    assert sys.version_info >= (3, 10)


def test_runs_flushed_at_interpreter_exit(tmp_path: os.PathLike[str]) -> None:
    """A script that never calls flush() or shutdown() still stores its runs at exit."""
    import subprocess

    path = os.path.join(tmp_path, "exit.db")
    script = (
        "import convtrack as ct\n"
        f"ct.configure([ct.SQLiteSink({path!r})], export_interval=60)\n"
        "with ct.conversation('at-exit'):\n"
        "    for _ in range(50):\n"
        "        with ct.trace('step'):\n"
        "            pass\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    store = ct.SQLiteSink(path)
    assert store.count() == 50
    store.close()
