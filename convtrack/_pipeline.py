"""The dispatcher: a bounded queue of ended runs, one worker thread, batches to every sink.

The application side (`emit`) never blocks and never raises: a run that does not fit (too
many runs, or too many bytes, queued) is dropped and counted. The worker hands batches to
every sink, retries a batch a sink could not take for a passing reason (a locked SQLite
file), and counts what happened: per sink `exported` and `failed`, and for the whole
pipeline `emitted == exported + dropped + failed + queued`, where a run is `exported` only
when every sink took it.

Events (feedback, a conversation's end) share the queue, so they reach the sinks in order
with the runs and `flush()` waits for them too; they are counted apart (`stats()["events"]`)
and go only to sinks that take them (`_delivery.py`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Union

from ._delivery import (
    EVENT_BYTES,
    deliver,
    deliver_events,
    flush_sinks,
    segments,
    sink_names,
)
from ._events import Event
from ._guard import logger, report
from ._handle import RunHandle
from ._sizes import size_of
from ._start import build_runs

if TYPE_CHECKING:
    from .grouping import ConversationGrouper
    from .sinks import Sink

Queued = Union[RunHandle, Event]  # noqa: UP007 - a runtime alias on Python 3.10 too
_EVENT_COUNTS = ("emitted", "exported", "failed", "dropped")
_item, _size = itemgetter(0), itemgetter(1)  # of a queue entry (run or event, bytes)


class _Waiter:
    """One `flush()` call: the queue entries (runs and events) it waits for, and whether all
    of them were exported."""

    __slots__ = ("base", "done", "ok", "target")

    def __init__(self, base: int, target: int) -> None:
        self.base = base  # entries processed when the call was made
        self.target = target  # entries accepted when the call was made: wait until processed
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
        self._names = sink_names(self.sinks)
        self._start()

    def _start(self) -> None:
        # The application side appends runs to the queue without a lock (a lock there,
        # contended by the worker, cost microseconds per run: bench_context_instructions.py);
        # the worker takes entries and counts under `_lock`, which readers and events take.
        self._lock = threading.Lock()
        self._queue: deque[tuple[Queued, int]] = deque()
        self._bytes_in = 0  # added by the application side (an estimate: races may lose some)
        self._bytes_out = 0  # taken out by the worker
        self.dropped = self.exported = self.failed = self.unconvertible = 0
        self._taken = self._processed = 0  # queue entries (runs and events) taken, done
        self._events = dict.fromkeys(_EVENT_COUNTS, 0)
        self._events_queued = 0  # events in the queue or in flight
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
        if not self._fits(size):
            with self._lock:
                self.dropped += 1
            return
        queue.append((run, size))
        self._bytes_in += size
        if len(queue) >= self._batch_size and not self._woken:
            self._woken = True
            self._wake.set()

    def emit_event(self, event: Event) -> None:
        """Queue a feedback or conversation-end record behind the runs emitted before it."""
        with self._lock:
            self._events["emitted"] += 1
            if not self._fits(EVENT_BYTES):
                self._events["dropped"] += 1
                return
            self._queue.append((event, EVENT_BYTES))
            self._bytes_in += EVENT_BYTES
            self._events_queued += 1

    def _fits(self, size: int) -> bool:
        """Whether one more entry of `size` bytes stays within both bounds of the queue."""
        return (
            len(self._queue) < self._max
            and self._bytes_in - self._bytes_out + size <= self._max_bytes
        )

    def stats(self) -> dict[str, Any]:
        """Counts: emitted == exported + dropped + failed + queued; per sink, its own; the
        same for events under `events`."""
        with self._lock:
            waiting = len(self._queue)
            return {
                "emitted": self._taken + waiting + self.dropped - self._events_accepted(),
                "exported": self.exported,
                "dropped": self.dropped,
                "failed": self.failed,
                "queued": waiting + self._taken - self._processed - self._events_queued,
                "unconvertible": self.unconvertible,
                "queued_bytes": max(0, self._bytes_in - self._bytes_out),
                "sinks": {
                    name: {"exported": counts[0], "failed": counts[1]}
                    for name, counts in self._sink_counts.items()
                },
                "events": {**self._events, "queued": self._events_queued},
            }

    def _events_accepted(self) -> int:
        """Events that entered the queue (call with the lock held)."""
        return self._events["emitted"] - self._events["dropped"]

    def flush(self, timeout: float | None) -> bool:
        """Wait until every run and event emitted before this call was exported to every sink.

        Returns False when the time runs out first, or when a sink failed one of them.
        Runs and events emitted meanwhile are not waited for.
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
        counts = self.stats()
        left = counts["queued"] + counts["events"]["queued"]
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
            entries = [queue.popleft() for _ in range(n)]
            self._taken += n
            first = self._processed
            mixed = self._events_queued > 0  # else every entry is a run
        self._bytes_out += sum(map(_size, entries))
        items = list(map(_item, entries))
        # a batch of runs only (the usual one) is not cut into segments: that, and taking
        # sizes and items with itemgetter, saved ~2k of the ~12k instructions the dispatcher
        # spends on a traced call's run (bench_context_instructions.py)
        parts = segments(items) if mixed else [(False, items)]
        events = sum(len(items) for are_events, items in parts if are_events)
        ok = True
        for are_events, items in parts:
            ok = (self._export_events(items) if are_events else self._export_runs(items)) and ok
        with self._lock:
            self._processed += n
            self._events_queued -= events
            if not ok:
                for waiter in self._waiters:
                    if waiter.base < first + n and first < waiter.target:
                        waiter.ok = False
        return True

    def _export_runs(self, ended: list[RunHandle]) -> bool:
        """Build the runs and give them to every sink; whether each sink took each run."""
        batch = build_runs(ended, self.capture_content)
        ok = [deliver(sink, "export", batch, self._is_stopping) for sink in self.sinks]
        unconvertible = len(ended) - len(batch)
        with self._lock:
            for name, took in zip(self._names, ok, strict=True):
                self._sink_counts[name][0 if took else 1] += len(batch)
            if all(ok):
                self.exported += len(batch)
                self.failed += unconvertible
            else:
                self.failed += len(ended)
            self.unconvertible += unconvertible
        return all(ok) and not unconvertible

    def _export_events(self, events: list[Event]) -> bool:
        """Give events to every sink that takes them; whether all of those took them."""
        ok = deliver_events(self.sinks, events, self._is_stopping)
        with self._lock:
            self._events["exported" if ok else "failed"] += len(events)
        return ok

    def _is_stopping(self) -> bool:
        return self._stopping

    def _release_waiters(self) -> None:
        """Answer the flush() calls whose runs were all processed, once the sinks flushed."""
        with self._lock:
            ready = [w for w in self._waiters if w.target <= self._processed]
            if not ready:
                return
            self._waiters = [w for w in self._waiters if w.target > self._processed]
        flushed = flush_sinks(self.sinks)
        for waiter in ready:
            waiter.ok = waiter.ok and flushed
            waiter.done.set()
