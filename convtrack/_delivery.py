"""Handing things to sinks: one call with retries of passing failures, events to the sinks
that take them, flushing, and each sink's name in `stats()`.

Events (feedback, a conversation's end) ride the dispatcher's queue beside the runs, in
order; a sink takes them only if it has the optional method `export_events(events)`, so a
sink written against the `Sink` protocol alone keeps working and gets runs only.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ._events import ConversationEnd, Event, Feedback
from ._guard import report

if TYPE_CHECKING:
    from .sinks import Sink

# Waits before each retry of a batch a sink refused for a passing reason (seconds).
RETRY_BACKOFF = (0.1, 0.5, 2.0)
SINK_FLUSH_TIMEOUT = 5.0
EVENT_BYTES = 1024  # what a queued event is counted as holding (they are small)


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


def is_event(item: object) -> bool:
    """Whether a queued item is an event (not a run)."""
    return isinstance(item, (Feedback, ConversationEnd))


def segments(items: Sequence[Any]) -> list[tuple[bool, list[Any]]]:
    """`items` cut into runs of consecutive runs or consecutive events, in order:
    `(True, events)` or `(False, runs)`."""
    found: list[tuple[bool, list[Any]]] = []
    for item in items:
        event = is_event(item)
        if found and found[-1][0] == event:
            found[-1][1].append(item)
        else:
            found.append((event, [item]))
    return found


def takes_events(sink: object) -> bool:
    """Whether a sink has the optional `export_events(events)` method."""
    return callable(getattr(sink, "export_events", None))


def deliver(sink: Sink, method: str, batch: Sequence[Any], stopping: Callable[[], bool]) -> bool:
    """Call `sink.<method>(batch)`, retrying a passing failure; whether the sink took it."""
    call = getattr(sink, method)
    for attempt, wait in enumerate((*RETRY_BACKOFF, None)):
        try:
            call(batch)
            return True
        except Exception as exc:
            if wait is None or not is_transient(exc) or stopping():
                suffix = f" after {attempt + 1} attempts" if attempt else ""
                what = "" if method == "export" else f".{method}"
                report(f"sink {type(sink).__name__}{what}{suffix}", exc)
                return False
            time.sleep(wait)
    return False  # (not reached: the last wait is None)


def deliver_events(
    sinks: Sequence[Sink], events: Sequence[Event], stopping: Callable[[], bool]
) -> bool:
    """Give `events` to every sink that takes events; whether all of those took them."""
    ok = [deliver(sink, "export_events", events, stopping) for sink in sinks if takes_events(sink)]
    return all(ok)


def flush_sinks(sinks: Sequence[Sink]) -> bool:
    """Flush every sink; whether all of them finished in time."""
    ok = True
    for sink in sinks:
        try:
            ok = bool(sink.flush(SINK_FLUSH_TIMEOUT)) and ok
        except Exception as exc:
            report(f"flushing sink {type(sink).__name__}", exc)
            ok = False
    return ok


def sink_names(sinks: Sequence[Sink]) -> list[str]:
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
