"""configure(), flush(), shutdown(), stats(): the pipeline in force, started and stopped here."""

from __future__ import annotations

import atexit
import os
import signal
import threading
from collections.abc import Callable, Iterable
from types import FrameType
from typing import TYPE_CHECKING, Any

from . import _config
from ._guard import report
from ._pipeline import Pipeline
from .sinks import JSONLSink, MemorySink, Sink, SQLiteSink

if TYPE_CHECKING:
    from .grouping import ConversationGrouper

DEFAULT_DB = "convtrack.db"  # the embedded store, in the working directory

current: Pipeline | None = None  # the pipeline in force; `_config.current` is the same one
_last: Pipeline | None = None  # the latest one, for `stats()` after `shutdown()`
configure_lock = threading.RLock()


def install(pipeline: Pipeline | None) -> Pipeline | None:
    """Put `pipeline` in force (None: stop recording); return the one it replaces.

    Call with `configure_lock` held.
    """
    global current, _last
    old, current = current, pipeline
    _config.current = pipeline
    if pipeline is not None:
        _last = pipeline
    return old


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
    """A built-in sink (`sqlite`, `jsonl`, `memory`), a plugin's (entry point group
    `convtrack.sinks`), or the store of a URL (`sqlite:///app.db`, `postgresql://...`)."""
    from importlib.metadata import entry_points

    if "://" in name:
        from .sinks import open_store

        url_sink: Sink = open_store(name, connect=False)  # a server that is down: not fatal
        return url_sink

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
    max_queue_bytes: int = 64 * 1024 * 1024,
    batch_size: int = 512,
    export_interval: float = 0.5,
    handle_sigterm: bool = True,
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
        max_queue_bytes: memory the waiting runs may hold at most (an estimate per run: its
            inputs and outputs count, so large payloads count more); more are dropped and
            counted. Default 64 MiB.
        batch_size: runs handed to the sinks at once.
        export_interval: seconds the worker waits before exporting a partial batch.
        handle_sigterm: on SIGTERM, flush the runs waiting (5 s at most), then let the
            handler that was there before run (the default one ends the process); the signal
            is never swallowed. Set from the main thread only; elsewhere, and with False,
            only the exit-time flush (`atexit`) and the ASGI lifespan flush apply.
    """
    if not isinstance(max_queue_size, int) or max_queue_size < 1:
        raise ValueError(f"max_queue_size must be a positive int, got {max_queue_size!r}")
    if not isinstance(max_queue_bytes, int) or max_queue_bytes < 1:
        raise ValueError(f"max_queue_bytes must be a positive int, got {max_queue_bytes!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not isinstance(export_interval, (int, float)) or export_interval <= 0:
        raise ValueError(f"export_interval must be a positive number, got {export_interval!r}")
    new_sinks = _resolve_sinks(sinks)
    grouper = resolve_grouper(grouping)
    with configure_lock:
        old = install(None)
        if old is not None:
            old.shutdown(5.0, keep=new_sinks)
        install(
            Pipeline(
                new_sinks,
                grouper,
                capture_content,
                max_queue_size,
                batch_size,
                float(export_interval),
                max_queue_bytes,
            )
        )
    if handle_sigterm:
        flush_on_sigterm()


def flush(timeout: float | None = 5.0) -> bool:
    """Wait until the runs emitted so far reached every sink; False on timeout."""
    pipeline = current
    return True if pipeline is None else pipeline.flush(timeout)


def shutdown(timeout: float | None = 5.0) -> bool:
    """Flush, stop the worker and close the sinks; runs are not recorded until `configure()`."""
    with configure_lock:
        pipeline = install(None)
    return True if pipeline is None else pipeline.shutdown(timeout)


def stats() -> dict[str, Any]:
    """Counts of the current (or last) pipeline.

    Returns:
        `emitted`, `exported` (taken by every sink), `dropped` (the queue was full),
        `failed` (a sink refused them, or they could not be converted: `unconvertible`),
        `queued`, with emitted == exported + dropped + failed + queued; `queued_bytes`; and
        `sinks`, each sink's own `exported` and `failed`, by class name. Feedback and
        conversation ends are not runs: their `emitted`, `exported`, `failed`, `dropped` and
        `queued` are under `events`.
    """
    pipeline = current or _last
    if pipeline is None:
        return {
            "emitted": 0,
            "exported": 0,
            "dropped": 0,
            "failed": 0,
            "queued": 0,
            "unconvertible": 0,
            "queued_bytes": 0,
            "sinks": {},
            "events": {"emitted": 0, "exported": 0, "failed": 0, "dropped": 0, "queued": 0},
        }
    return pipeline.stats()


def _after_fork_in_child() -> None:
    if current is not None:
        current.after_fork_in_child()


_sigterm_installed = False
SIGTERM_FLUSH_TIMEOUT = 5.0


def flush_on_sigterm() -> bool:
    """Chain a SIGTERM handler that flushes, then calls the handler that was there before.

    The signal is never swallowed: with the default handler before, the process ends as it
    would have (the signal is raised again with the default handler). Once per process; only
    from the main thread (elsewhere nothing is installed and False is returned).
    """
    global _sigterm_installed
    if _sigterm_installed:
        return True
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        return False
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        # Flush from another thread, waiting a bounded time: the signal may have interrupted
        # this thread inside convtrack itself, holding a lock the flush needs.
        try:
            flusher = threading.Thread(target=flush, args=(SIGTERM_FLUSH_TIMEOUT,), daemon=True)
            flusher.start()
            flusher.join(SIGTERM_FLUSH_TIMEOUT + 0.5)
        except Exception as exc:  # never in the way of the signal
            report("flushing on SIGTERM", exc)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_IGN:
            return
        else:  # the default: end the process the way SIGTERM does
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    try:
        signal.signal(signal.SIGTERM, on_sigterm)
    except (ValueError, OSError) as exc:  # not the main interpreter, or no such signal
        report("installing the SIGTERM handler", exc)
        return False
    _sigterm_installed = True
    return True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(shutdown, 5.0)
