"""The viewer's read side of a SQLite store, with answers cached until the store changes.

The page polls the API every second or two; most polls find nothing new. A second,
read-only connection asks SQLite's `PRAGMA data_version`, which changes whenever another
connection commits, so an unchanged store is answered from the cache (and with a 304 when
the browser already has that answer) without querying or serialising again.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..sinks import DatabaseError, SQLiteSink, open_store
from ._responses import etag_of

MAX_AGE = 5.0  # seconds: answers that depend on the clock (`since=1h`) are redone this often
MAX_ENTRIES = 256


@dataclass(frozen=True)
class Answer:
    """A cached answer: its JSON body (None: not found) and its entity tag."""

    body: bytes | None
    etag: str
    version: int
    made_at: float


class ViewerStore:
    """The SQLite store as the viewer reads it.

    Args:
        path: a convtrack SQLite database (never written to, but for the one-time migration
            of a store written by convtrack 0.1).

    Raises:
        DatabaseError: the file is missing or is not a convtrack database.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.sink = open_store(path, create=False)  # a path, sqlite:///, postgresql://...
        self._reader: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, Answer] = OrderedDict()
        self._closed = False
        if not isinstance(self.sink, SQLiteSink):  # no change counter: answers last 1 s
            return
        self.path = self.sink.path
        try:
            uri = self.path.resolve().as_uri() + "?mode=ro"
            self._reader = sqlite3.connect(
                uri, uri=True, check_same_thread=False, isolation_level=None
            )
        except sqlite3.Error as exc:
            self.sink.close()
            raise DatabaseError(f"cannot read {self.path} ({exc})") from exc

    def version(self) -> int:
        """A number that changes whenever another connection has committed to the store."""
        with self._lock:
            if self._reader is None:
                return int(time.monotonic())
            return int(self._reader.execute("PRAGMA data_version").fetchone()[0])

    def answer(self, key: str, build: Callable[[], bytes | None]) -> Answer:
        """The answer cached under `key`, built again if the store changed or it got old.

        Args:
            key: what was asked (the same key must always mean the same question).
            build: makes the JSON body, or None for "not found".
        """
        version = self.version()  # read before building: a commit in between means a rebuild
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached.version == version and now - cached.made_at < MAX_AGE:
            return cached
        body = build()
        fresh = Answer(body, etag_of(b"\x00" if body is None else body), version, now)
        with self._lock:
            self._cache[key] = fresh
            self._cache.move_to_end(key)
            while len(self._cache) > MAX_ENTRIES:
                self._cache.popitem(last=False)
        return fresh

    def close(self) -> None:
        """Close both connections (again: nothing happens)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._reader is not None:
                self._reader.close()
        self.sink.close()
