"""SQLiteSink: the embedded default store (WAL, versioned schema, queryable by conversation)."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .._events import Event, Feedback
from .._runs import Run, ns_of, times_ns
from . import _schema
from ._feedback import read_feedback, write_events
from ._migrate import DatabaseError, connect
from ._query import check_limit, filters, micros
from ._retention import prune
from ._rows import COLUMNS as _COLUMNS
from ._rows import rows_of
from ._rows import run_of as _run
from ._rows import summary_of as _summary
from ._run_search import find_run, search_runs
from ._summary import ConversationSummary
from ._times import idle_seconds
from ._totals import COLUMNS as _SUMMARY_COLUMNS
from ._upkeep import Stored, update

SCHEMA_VERSION = _schema.SCHEMA_VERSION
_INSERT = f"INSERT OR IGNORE INTO runs ({_COLUMNS}) VALUES ({', '.join('?' * 19)})"
__all__ = ["DatabaseError", "SQLiteSink"]

_CACHE_KIB = 65536  # page cache of a connection, at most (SQLite's default: 2 MiB)
FEEDBACK_COUNT = "(SELECT COUNT(*) FROM feedback AS f WHERE f.conversation_id = c.conversation_id)"


def _stored(run: Run) -> Stored:
    start_ns, end_ns = times_ns(run)
    return run, start_ns // 1000, end_ns // 1000


class SQLiteSink:
    """Stores runs in a SQLite file and answers questions about conversations.

    Each conversation's summary (counts, tokens, cost, previews, metadata) is kept in its own
    row, updated in the transaction that writes its runs, so listing and filtering read an
    index, never every run.

    Feedback and conversation ends (`convtrack.feedback()`, `convtrack.end_conversation()`)
    are stored too (`export_events`), and read back by `feedback()` and the `feedback=` and
    `ended=` filters.

    Args:
        path: the database file (created with its folder unless `create` is False).
        create: when False, a missing file raises `DatabaseError` instead of being created.
        idle_timeout: a conversation with no activity for this long (seconds, or a
            timedelta) counts as ended in queries, as if `end_conversation()` had been
            called. Default 30 minutes.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = "convtrack.db",
        *,
        create: bool = True,
        idle_timeout: float | timedelta = 1800.0,
    ) -> None:
        self.idle_timeout = idle_seconds(idle_timeout)
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise DatabaseError(f"no convtrack database at {self.path}")
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._conn = self._open(create)
        self._search = _schema.has_search_table(self._conn)

    def _open(self, create: bool) -> sqlite3.Connection:
        return connect(self.path, create, _CACHE_KIB)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._pid != os.getpid():  # a forked child must not share the parent's handle
                self._pid = os.getpid()
                self._conn = self._open(True)
            yield self._conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- Sink ---------------------------------------------------------------------------

    def export(self, runs: Sequence[Run]) -> None:
        """Store `runs` and bring their conversations up to date, in one transaction.

        A run already stored (the same `run_id`) is ignored: exporting again changes nothing.
        """
        unique: dict[str, Run] = {}
        for run in runs:
            unique.setdefault(run.run_id, run)
        with self._transaction() as conn:
            base = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM runs").fetchone()[0]
            new = [_stored(run) for run in unique.values()]
            before = conn.total_changes
            conn.executemany(_INSERT, rows_of(new))
            if conn.total_changes - before != len(new):  # some were stored already: skip them
                kept = {
                    r[0] for r in conn.execute("SELECT run_id FROM runs WHERE rowid > ?", (base,))
                }
                new = [stored for stored in new if stored[0].run_id in kept]
            update(conn, new, base, self._search)

    def export_events(self, events: Sequence[Event]) -> None:
        """Store feedback (idempotent on `feedback_id`) and conversation ends, in one
        transaction."""
        with self._transaction() as conn:
            write_events(conn, events)

    def flush(self, timeout: float | None = None) -> bool:
        """Every export is committed already."""
        return True

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    # -- queries ------------------------------------------------------------------------

    def conversations(
        self,
        limit: int | None = 50,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        query: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        text: str | None = None,
        status: str | None = None,
        before: str | None = None,
        feedback: str | None = None,
        ended: bool | None = None,
    ) -> list[ConversationSummary]:
        """Summaries of conversations, the most recently active first.

        Args:
            limit: at most this many (None: all).
            user_id: only conversations of this user.
            agent_id: only conversations of this agent.
            since: only conversations last active at or after this time (naive: UTC).
            until: only conversations last active before this time.
            query: only conversations whose id contains this text.
            metadata: only conversations where each key has this value (a string, number,
                boolean or None), on the conversation or any of its runs.
            text: only conversations whose messages contain this text (words matched as
                written, in order; case-insensitive).
            status: `"error"`: only conversations with a failed run; `"ok"`: only without.
            before: the cursor of the previous page (`next_cursor(summaries)`).
            feedback: only conversations with feedback of this key (on them or their runs).
            ended: True: only ended conversations (by `end_conversation()`, or idle longer
                than `idle_timeout`); False: only open ones.

        Raises:
            ValueError: a filter that cannot be used (the message says which and why).
        """
        check_limit(limit)
        idle_before = self._idle_before()
        found = filters(
            user_id=user_id,
            agent_id=agent_id,
            since=since,
            until=until,
            query=query,
            metadata=metadata,
            text=text,
            status=status,
            before=before,
            feedback=feedback,
            ended=ended,
            idle_before=idle_before,
            search=self._search,
        )
        sql = f"SELECT {_SUMMARY_COLUMNS}, {FEEDBACK_COUNT} FROM conversations AS c"
        if found.where:
            sql += " WHERE " + " AND ".join(found.where)
        sql += " ORDER BY c.last_at DESC, c.conversation_id"
        params = list(found.params)
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._connection() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [_summary(row, idle_before) for row in rows]

    def conversation(self, conversation_id: str) -> ConversationSummary | None:
        """One conversation's summary (None when the store holds nothing of it)."""
        with self._connection() as conn:
            row = conn.execute(
                f"SELECT {_SUMMARY_COLUMNS}, {FEEDBACK_COUNT} FROM conversations AS c"
                " WHERE c.conversation_id = ?",
                (conversation_id,),
            ).fetchone()
        return None if row is None else _summary(row, self._idle_before())

    def _idle_before(self) -> int:
        """Now less `idle_timeout`, in microseconds: last active before it counts as ended."""
        now = ns_of(datetime.now(timezone.utc)) // 1000
        return now - int(self.idle_timeout * 1_000_000)

    def feedback(
        self, conversation_id: str | None = None, *, run_id: str | None = None
    ) -> list[Feedback]:
        """The feedback on a conversation (including on its runs), or on one run, oldest first.

        Args:
            conversation_id: the conversation (None with `run_id`: any).
            run_id: only the feedback on this run.

        Raises:
            ValueError: neither given, or one that is not a string.
        """
        with self._connection() as conn:
            return read_feedback(conn, conversation_id, run_id)

    def runs(self, conversation_id: str | None = None) -> list[Run]:
        """The runs of one conversation (all runs when None), in start order."""
        with self._connection() as conn:
            if conversation_id is None:
                rows = conn.execute(f"SELECT {_COLUMNS} FROM runs ORDER BY started_at, run_id")
            else:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM runs WHERE conversation_id = ?"
                    " ORDER BY started_at, run_id",
                    (conversation_id,),
                )
            return [_run(r) for r in rows.fetchall()]

    def search_runs(self, limit: int | None = 50, **filters: Any) -> list[Run]:
        """Runs, the most recently started first (`oldest_first=True`: the first first).

        Args:
            limit: at most this many (None: all).
            **filters: `conversation_id`, `kind`, `status`, `model`, `metadata` (each key
                with this value on the run), `text` (in its inputs, outputs, error or name),
                `since`/`until` (its start), `before` (`next_run_cursor(page)`),
                `oldest_first`.

        Raises:
            ValueError: a filter that cannot be used (the message says which and why).
        """
        with self._connection() as conn:
            return search_runs(conn, limit, **filters)

    def run(self, run_id: str) -> Run | None:
        """The run with this id (None: no such run)."""
        with self._connection() as conn:
            return find_run(conn, run_id)

    def iter_runs(self, batch_size: int = 1000) -> Iterator[Run]:
        """Every run in the store, in start order, read in batches (for exports)."""
        last: tuple[int, str] = (-1, "")
        while True:
            with self._connection() as conn:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM runs WHERE (started_at, run_id) > (?, ?)"
                    " ORDER BY started_at, run_id LIMIT ?",
                    (*last, batch_size),
                ).fetchall()
            if not rows:
                return
            for r in rows:
                yield _run(r)
            last = (rows[-1]["started_at"], rows[-1]["run_id"])

    def count(self) -> int:
        """How many runs the store holds."""
        with self._connection() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    # -- retention ----------------------------------------------------------------------

    def prune(
        self,
        before: datetime,
        *,
        batch_size: int = 500,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Delete the conversations last active before `before`, whole, with everything kept
        for them (runs, metadata index, search text, feedback); and runs of no conversation
        that started before it. Each batch of conversations is its own transaction.

        Args:
            before: the cut-off (naive: UTC).
            batch_size: conversations deleted per transaction.
            progress: called after each batch with (conversations deleted so far, total).

        Returns:
            How many conversations were deleted.
        """
        return prune(
            self._connection,
            self._transaction,
            micros("before", before),
            batch_size,
            progress,
            self._search,
        )

    def vacuum(self) -> None:
        """Give the space of deleted rows back to the file system (rewrites the file)."""
        with self._connection() as conn:
            conn.execute("VACUUM")
