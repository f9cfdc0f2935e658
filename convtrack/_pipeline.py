"""The dispatcher: a bounded queue of ended runs, one worker thread, batches to every sink."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._guard import report
from ._handle import RunHandle
from ._start import runs_of

if TYPE_CHECKING:
    from ._runs import Run
    from .grouping import ConversationGrouper
    from .sinks import Sink


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
    ) -> None:
        self.sinks = tuple(sinks)
        self.grouper = grouper
        self.capture_content = capture_content
        self._max = max_queue_size
        self._batch_size = batch_size
        self._interval = export_interval
        self._counts_lock = threading.Lock()
        self.exported = 0
        self.dropped = 0
        self.failed = 0
        self._start()

    def _start(self) -> None:
        self._queue: deque[RunHandle] = deque()
        self._wake = threading.Event()
        self._woken = False  # a plain flag: cheaper than Event.is_set() on the emit path
        self._waiters: list[threading.Event] = []
        self._waiters_lock = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="convtrack-dispatcher", daemon=True)
        self._thread.start()

    # -- the application side: never blocks, never raises ------------------------------

    def emit(self, run: RunHandle) -> None:
        """Queue an ended run; when the queue is full the run is dropped and counted."""
        queue = self._queue
        if len(queue) < self._max:
            queue.append(run)
            if len(queue) >= self._batch_size and not self._woken:
                self._woken = True
                self._wake.set()
        else:
            with self._counts_lock:
                self.dropped += 1

    def stats(self) -> dict[str, int]:
        """Counts: emitted == exported + dropped + queued."""
        with self._counts_lock:
            exported, dropped, failed = self.exported, self.dropped, self.failed
            queued = len(self._queue)
        return {
            "emitted": exported + dropped + queued,
            "exported": exported,
            "dropped": dropped,
            "failed": failed,
            "queued": queued,
        }

    def flush(self, timeout: float | None) -> bool:
        """Wait until every run emitted before this call reached the sinks and they flushed."""
        if not self._thread.is_alive():
            return not self._queue
        done = threading.Event()
        with self._waiters_lock:
            self._waiters.append(done)
        self._wake.set()
        return done.wait(timeout)

    def shutdown(self, timeout: float | None, keep: Sequence[Sink] = ()) -> bool:
        """Flush, stop the worker, close the sinks (but those in `keep`)."""
        flushed = self.flush(timeout)
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)
        for sink in self.sinks:
            if all(sink is not kept for kept in keep):
                try:
                    sink.close()
                except Exception as exc:
                    report(f"closing sink {type(sink).__name__}", exc)
        return flushed

    def after_fork_in_child(self) -> None:
        """The child starts with an empty queue and its own worker (the parent exports its runs)."""
        self._counts_lock = threading.Lock()
        self._start()

    # -- the worker ----------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            self._woken = False
            with self._waiters_lock:
                waiters, self._waiters = self._waiters, []
            self._drain()
            if waiters:
                ok = self._flush_sinks()
                for waiter in waiters:
                    if ok:
                        waiter.set()
            if self._stopping:
                self._drain()
                return

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            n = min(len(queue), self._batch_size)
            batch = self._build([queue.popleft() for _ in range(n)])
            for sink in self.sinks:
                try:
                    sink.export(batch)
                except Exception as exc:
                    report(f"sink {type(sink).__name__}", exc)
                    with self._counts_lock:
                        self.failed += n
            with self._counts_lock:
                self.exported += n

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
                    continue
            return runs

    def _flush_sinks(self) -> bool:
        ok = True
        for sink in self.sinks:
            try:
                ok = bool(sink.flush(5.0)) and ok
            except Exception as exc:
                report(f"flushing sink {type(sink).__name__}", exc)
                ok = False
        return ok
