"""MemorySink: keeps runs and events in memory (tests, notebooks)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from .._events import Event
from .._runs import Run


class MemorySink:
    """Keeps every exported run, and every event (feedback, conversation end), in memory, in
    emission order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: list[Run] = []
        self._events: list[Event] = []

    @property
    def runs(self) -> tuple[Run, ...]:
        """The runs exported so far, in emission order."""
        with self._lock:
            return tuple(self._runs)

    @property
    def events(self) -> tuple[Event, ...]:
        """The feedback and conversation-end records exported so far, in emission order."""
        with self._lock:
            return tuple(self._events)

    def clear(self) -> None:
        """Forget the runs and events kept so far."""
        with self._lock:
            self._runs.clear()
            self._events.clear()

    def export(self, runs: Sequence[Run]) -> None:
        """Keep `runs`."""
        with self._lock:
            self._runs.extend(runs)

    def export_events(self, events: Sequence[Event]) -> None:
        """Keep `events`."""
        with self._lock:
            self._events.extend(events)

    def flush(self, timeout: float | None = None) -> bool:
        """Nothing to flush."""
        return True

    def close(self) -> None:
        """Nothing to close; the runs stay readable."""
