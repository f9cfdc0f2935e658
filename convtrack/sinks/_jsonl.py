"""JSONLSink: one JSON object per run (or event) per line, appended to a file."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from .._events import Event, event_to_dict
from .._runs import Run
from .._serialize import run_to_dict


class JSONLSink:
    """Appends each run as one line of JSON (see `convtrack export` for the same shape).

    Feedback and conversation ends are lines too, told apart by their `"record"` field
    (`"feedback"`, `"conversation_end"`); run lines have none.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._file = self.path.open("a", encoding="utf-8")

    def export(self, runs: Sequence[Run]) -> None:
        """Append `runs`, one line each."""
        text = "".join(
            json.dumps(run_to_dict(run), ensure_ascii=True, separators=(",", ":")) + "\n"
            for run in runs
        )
        with self._lock:
            self._file.write(text)

    def export_events(self, events: Sequence[Event]) -> None:
        """Append `events`, one line each, with `"record"` saying which kind."""
        text = "".join(
            json.dumps(event_to_dict(event), ensure_ascii=True, separators=(",", ":")) + "\n"
            for event in events
        )
        with self._lock:
            self._file.write(text)

    def flush(self, timeout: float | None = None) -> bool:
        """Flush the file to the OS."""
        with self._lock:
            if not self._file.closed:
                self._file.flush()
        return True

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._file.close()
