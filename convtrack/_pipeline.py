"""configure()/flush()/shutdown()/stats() and the background dispatcher that feeds the sinks."""

from __future__ import annotations

import atexit
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from ._guard import report

if TYPE_CHECKING:
    from ._runs import ActiveRun, Run
    from .grouping import ConversationGrouper
    from .sinks import Sink

DEFAULT_DB = "convtrack.db"


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
        self._queue: deque[ActiveRun] = deque()
        self._wake = threading.Event()
        self._woken = False  # a plain flag: cheaper than Event.is_set() on the emit path
        self._waiters: list[threading.Event] = []
        self._waiters_lock = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="convtrack-dispatcher", daemon=True)
        self._thread.start()

    # -- the application side: never blocks, never raises ------------------------------

    def emit(self, run: ActiveRun) -> None:
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

    def _build(self, ended: list[ActiveRun]) -> list[Run]:
        from ._runs import runs_of

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


current: Pipeline | None = None
_last: Pipeline | None = None
configure_lock = threading.RLock()


def _resolve_sinks(sinks: Iterable[Sink | str] | None) -> list[Sink]:
    if sinks is None:
        return [_sink_by_name("sqlite")]
    if isinstance(sinks, (str, bytes)) or not isinstance(sinks, Iterable):
        raise TypeError("sinks must be a list of sinks or sink names, e.g. [SQLiteSink('app.db')]")
    resolved: list[Sink] = []
    for sink in sinks:
        if isinstance(sink, str):
            resolved.append(_sink_by_name(sink))
        elif callable(getattr(sink, "export", None)) and callable(getattr(sink, "flush", None)):
            resolved.append(sink)
        else:
            raise TypeError(
                f"{sink!r} is not a sink: a sink has export(runs), flush(timeout) and close()"
            )
    return resolved


def _sink_by_name(name: str) -> Sink:
    """A built-in sink (`sqlite`, `jsonl`, `memory`) or a plugin's (entry point group
    `convtrack.sinks`)."""
    from importlib.metadata import entry_points

    from .sinks import JSONLSink, MemorySink, SQLiteSink

    factories: dict[str, Callable[[], Sink]] = {
        "sqlite": lambda: SQLiteSink(DEFAULT_DB),
        "jsonl": lambda: JSONLSink("convtrack.jsonl"),
        "memory": MemorySink,
    }
    for ep in entry_points(group="convtrack.sinks"):
        factories.setdefault(ep.name, ep.load)
    factory = factories.get(name)
    if factory is None:
        raise ValueError(f"unknown sink name {name!r}; known: {', '.join(sorted(factories))}")
    sink = factory()
    if isinstance(sink, type):  # an entry point may name the sink class itself
        sink = sink()
    return sink


def resolve_grouper(grouping: object) -> ConversationGrouper | None:
    if grouping is False or grouping is None:
        return None
    from .grouping import ConversationGrouper

    if grouping is True:
        return ConversationGrouper()
    if isinstance(grouping, ConversationGrouper):
        return grouping
    raise TypeError(f"grouping must be True, False or a ConversationGrouper, got {grouping!r}")


def configure(
    sinks: Iterable[Sink | str] | None = None,
    *,
    grouping: bool | ConversationGrouper = True,
    capture_content: bool = True,
    max_queue_size: int = 65536,
    batch_size: int = 512,
    export_interval: float = 0.5,
) -> None:
    """Start recording runs (again: the previous pipeline is flushed and replaced).

    Args:
        sinks: sinks or sink names (`"sqlite"`, `"jsonl"`, `"memory"`, or a plugin's name);
            None means `SQLiteSink("./convtrack.db")`.
        grouping: True groups chat calls that carry no id by their message history (in
            memory); a `ConversationGrouper` to choose the store; False turns it off.
        capture_content: record inputs and outputs (prompts, answers); False keeps only
            ids, names, models, timings and usage.
        max_queue_size: runs waiting for the sinks at most; more are dropped and counted.
        batch_size: runs handed to the sinks at once.
        export_interval: seconds the worker waits before exporting a partial batch.
    """
    if not isinstance(max_queue_size, int) or max_queue_size < 1:
        raise ValueError(f"max_queue_size must be a positive int, got {max_queue_size!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not isinstance(export_interval, (int, float)) or export_interval <= 0:
        raise ValueError(f"export_interval must be a positive number, got {export_interval!r}")
    new_sinks = _resolve_sinks(sinks)
    grouper = resolve_grouper(grouping)
    global current, _last
    with configure_lock:
        old, current = current, None
        if old is not None:
            old.shutdown(5.0, keep=new_sinks)
        current = _last = Pipeline(
            new_sinks, grouper, capture_content, max_queue_size, batch_size, float(export_interval)
        )


def flush(timeout: float | None = 5.0) -> bool:
    """Wait until the runs emitted so far reached every sink; False on timeout."""
    pipeline = current
    return True if pipeline is None else pipeline.flush(timeout)


def shutdown(timeout: float | None = 5.0) -> bool:
    """Flush, stop the worker and close the sinks; runs are not recorded until `configure()`."""
    global current
    with configure_lock:
        pipeline, current = current, None
    return True if pipeline is None else pipeline.shutdown(timeout)


def stats() -> dict[str, int]:
    """Counts of the current (or last) pipeline.

    Returns:
        `emitted`, `exported`, `dropped`, `failed`, `queued`; emitted == exported + dropped
        once flushed.
    """
    pipeline = current or _last
    if pipeline is None:
        return {"emitted": 0, "exported": 0, "dropped": 0, "failed": 0, "queued": 0}
    return pipeline.stats()


def is_configured() -> bool:
    """Whether runs are being recorded."""
    return current is not None


def _after_fork_in_child() -> None:
    if current is not None:
        current.after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(shutdown, 5.0)
