"""The dispatcher: a bounded queue of ended runs, one worker thread, batches to every sink.

The application side (`emit`) never blocks and never raises: a run that does not fit (too
many runs, or too many bytes, queued) is dropped and counted. The worker hands batches to
every sink, retries a batch a sink could not take for a passing reason (a locked SQLite
file), and counts what happened: per sink `exported` and `failed`, and for the whole
pipeline `emitted == exported + dropped + failed + queued`, where a run is `exported` only
when every sink took it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._guard import logger, report
from ._handle import RunHandle
from ._sizes import size_of
from ._start import runs_of

if TYPE_CHECKING:
    from ._runs import Run
    from .grouping import ConversationGrouper
    from .sinks import Sink

# Waits before each retry of a batch a sink refused for a passing reason (seconds).
RETRY_BACKOFF = (0.1, 0.5, 2.0)
SINK_FLUSH_TIMEOUT = 5.0


def is_transient(exc: BaseException) -> bool:
    """Whether a sink's failure may pass if the batch is tried again.

    A locked or busy SQLite database, or any exception a sink marks `transient = True`.
    Others are not retried: a sink that wrote part of a batch could write it twice.
    """
    if getattr(exc, "transient", False) is True:
        return True
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return "locked" in text or "busy" in text
    return False


class _Waiter:
    """One `flush()` call: the runs it waits for, and whether all of them were exported."""

    __slots__ = ("base", "done", "ok", "target")

    def __init__(self, base: int, target: int) -> None:
        self.base = base  # runs processed when the call was made
        self.target = target  # runs accepted when the call was made: wait until processed
        self.ok = True
        self.done = threading.Event()


class Pipeline:
    """A bounded queue, one daemon worker thread, batches to every sink."""

    def __init__(
        self,
        sinks: Sequence[Sink],
        grouper: ConversationGrouper | None,
        capture_content: bool,
        max_queue_size: int,
        batch_size: int,
        export_interval: float,
        max_queue_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.sinks = tuple(sinks)
        self.grouper = grouper
        self.capture_content = capture_content
        self._max = max_queue_size
        self._max_bytes = max_queue_bytes
        self._batch_size = batch_size
        self._interval = export_interval
        self._names = _sink_names(self.sinks)
        self._start()

    def _start(self) -> None:
        # The application side appends to the queue without a lock (a lock there, contended
        # by the worker, cost microseconds per run: bench_context_instructions.py); the
        # worker takes entries and counts under `_lock`, which readers take too.
        self._lock = threading.Lock()
        self._queue: deque[tuple[RunHandle, int]] = deque()
        self._bytes_in = 0  # added by the application side (an estimate: races may lose some)
        self._bytes_out = 0  # taken out by the worker
        self.dropped = self.exported = self.failed = self.unconvertible = 0
        self._taken = self._processed = self._in_flight = 0
        self._sink_counts = {name: [0, 0] for name in self._names}  # [exported, failed]
        self._waiters: list[_Waiter] = []
        self._wake = threading.Event()
        self._woken = False  # a plain flag: cheaper than Event.is_set() on the emit path
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="convtrack-dispatcher", daemon=True)
        self._thread.start()

    # -- the application side: never blocks, never raises ------------------------------

    def emit(self, run: RunHandle) -> None:
        """Queue an ended run; when the queue is full the run is dropped and counted."""
        queue = self._queue
        size = size_of(run)
        if len(queue) >= self._max or self._bytes_in - self._bytes_out + size > self._max_bytes:
            with self._lock:
                self.dropped += 1
            return
        queue.append((run, size))
        self._bytes_in += size
        if len(queue) >= self._batch_size and not self._woken:
            self._woken = True
            self._wake.set()

    def stats(self) -> dict[str, Any]:
        """Counts: emitted == exported + dropped + failed + queued; per sink, its own."""
        with self._lock:
            waiting = len(self._queue)
            return {
                "emitted": self._taken + waiting + self.dropped,
                "exported": self.exported,
                "dropped": self.dropped,
                "failed": self.failed,
                "queued": waiting + self._in_flight,
                "unconvertible": self.unconvertible,
                "queued_bytes": max(0, self._bytes_in - self._bytes_out),
                "sinks": {
                    name: {"exported": counts[0], "failed": counts[1]}
                    for name, counts in self._sink_counts.items()
                },
            }

    def flush(self, timeout: float | None) -> bool:
        """Wait until every run emitted before this call was exported to every sink.

        Returns False when the time runs out first, or when a sink failed one of them.
        Runs emitted meanwhile are not waited for.
        """
        with self._lock:
            waiter = _Waiter(self._processed, self._taken + len(self._queue))
            if not self._thread.is_alive():
                return not self._queue
            self._waiters.append(waiter)
        self._wake.set()
        return waiter.done.wait(timeout) and waiter.ok

    def shutdown(self, timeout: float | None, keep: Sequence[Sink] = ()) -> bool:
        """Flush, stop the worker, close the sinks (but those in `keep`); True if nothing
        was left unexported.

        A sink still exporting when the time is up is not closed (its export may still be
        writing); how many runs are left is logged.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        flushed = self.flush(timeout)
        self._stopping = True
        self._wake.set()
        self._thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        left = self.stats()["queued"]
        if self._thread.is_alive():
            logger.warning(
                "convtrack: shutdown gave up after %ss with %d runs not exported; a sink is "
                "still exporting, so no sink is closed",
                timeout,
                left,
            )
            return False
        if left:
            logger.warning("convtrack: shutdown left %d runs not exported", left)
        for sink in self.sinks:
            if all(sink is not kept for kept in keep):
                try:
                    sink.close()
                except Exception as exc:
                    report(f"closing sink {type(sink).__name__}", exc)
        return flushed and not left

    def after_fork_in_child(self) -> None:
        """The child starts with an empty queue and its own worker (the parent exports its runs)."""
        self._start()

    # -- the worker ----------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            self._woken = False
            while self._export_batch():
                self._release_waiters()
            self._release_waiters()
            if self._stopping:
                self._export_all()
                self._release_waiters()
                return

    def _export_all(self) -> None:
        while self._export_batch():
            pass

    def _export_batch(self) -> bool:
        """Export the next batch to every sink; False when the queue was empty."""
        with self._lock:
            queue = self._queue
            n = min(len(queue), self._batch_size)
            if not n:
                return False
            taken = [queue.popleft() for _ in range(n)]
            self._taken += n
            self._in_flight = n
            first = self._processed
        self._bytes_out += sum(size for _, size in taken)
        batch = self._build([run for run, _ in taken])
        ok = [self._export(sink, batch) for sink in self.sinks]
        unconvertible = n - len(batch)
        with self._lock:
            for name, took in zip(self._names, ok, strict=True):
                self._sink_counts[name][0 if took else 1] += len(batch)
            if all(ok):
                self.exported += len(batch)
                self.failed += unconvertible
            else:
                self.failed += n
            self.unconvertible += unconvertible
            self._processed += n
            self._in_flight = 0
            if unconvertible or not all(ok):
                for waiter in self._waiters:
                    if waiter.base < first + n and first < waiter.target:
                        waiter.ok = False
        return True

    def _export(self, sink: Sink, batch: list[Run]) -> bool:
        """Give `batch` to one sink, retrying a passing failure; whether the sink took it."""
        for attempt, wait in enumerate((*RETRY_BACKOFF, None)):
            try:
                sink.export(batch)
                return True
            except Exception as exc:
                if wait is None or not is_transient(exc) or self._stopping:
                    suffix = f" after {attempt + 1} attempts" if attempt else ""
                    report(f"sink {type(sink).__name__}{suffix}", exc)
                    return False
                time.sleep(wait)
        return False  # (not reached: the last wait is None)

    def _release_waiters(self) -> None:
        """Answer the flush() calls whose runs were all processed, once the sinks flushed."""
        with self._lock:
            ready = [w for w in self._waiters if w.target <= self._processed]
            if not ready:
                return
            self._waiters = [w for w in self._waiters if w.target > self._processed]
        flushed = self._flush_sinks()
        for waiter in ready:
            waiter.ok = waiter.ok and flushed
            waiter.done.set()

    def _build(self, ended: list[RunHandle]) -> list[Run]:
        capture = self.capture_content
        try:
            return runs_of(ended, capture)
        except Exception as exc:  # one bad run must not cost the batch
            report("building runs", exc)
            runs = []
            for active in ended:
                try:
                    runs.extend(runs_of([active], capture))
                except Exception:
                    continue  # counted as unconvertible by the caller
            return runs

    def _flush_sinks(self) -> bool:
        ok = True
        for sink in self.sinks:
            try:
                ok = bool(sink.flush(SINK_FLUSH_TIMEOUT)) and ok
            except Exception as exc:
                report(f"flushing sink {type(sink).__name__}", exc)
                ok = False
        return ok


def _sink_names(sinks: Sequence[Sink]) -> list[str]:
    """Each sink's name in `stats()`: its class name, numbered when two share one."""
    names: list[str] = []
    for sink in sinks:
        base = type(sink).__name__
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}#{n}"
        names.append(name)
    return names
