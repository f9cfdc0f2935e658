"""MemorySink: keeps runs in memory (tests, notebooks)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from .._runs import Run


class MemorySink:
    """Keeps every exported run in memory, in emission order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: list[Run] = []

    @property
    def runs(self) -> tuple[Run, ...]:
        """The runs exported so far, in emission order."""
        with self._lock:
            return tuple(self._runs)

    def clear(self) -> None:
        """Forget the runs kept so far."""
        with self._lock:
            self._runs.clear()

    def export(self, runs: Sequence[Run]) -> None:
        """Keep `runs`."""
        with self._lock:
            self._runs.extend(runs)

    def flush(self, timeout: float | None = None) -> bool:
        """Nothing to flush."""
        return True

    def close(self) -> None:
        """Nothing to close; the runs stay readable."""
