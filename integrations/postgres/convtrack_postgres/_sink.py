"""PostgresSink: one store for the conversations of an app that runs on several machines."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from convtrack import Feedback, Run
from convtrack.sinks import (
    ConversationSummary,
    check_limit,
    idle_seconds,
    run_from_row,
    summary_from_row,
    time_filter,
)

from ._events import Event, micros, read_feedback, write_events
from ._pool import Connections
from ._read import filters
from ._retention import prune
from ._run_search import checked_run_id, search_runs
from ._write import RUN_COLUMNS, write

_SUMMARY_SELECT = (  # the order of convtrack.sinks.summary_from_row; jsonb read as text
    "conversation_id, user_id, agent_id, first_at, last_at, run_count, llm_count, inferred,"
    " error_count, input_tokens, output_tokens, cost_nanos, priced_count, first_input,"
    " first_input_key, last_output, last_output_key, tools::text, metadata::text, ended_at,"
    " (SELECT count(*) FROM {}.feedback AS f WHERE f.conversation_id = c.conversation_id)"
)


class PostgresSink(Connections):
    """Stores runs in PostgreSQL and answers questions about conversations.

    The same store as `convtrack.SQLiteSink` (each conversation's summary kept at write
    time, the same filters, pages and retention), for many writer processes at once.

    Args:
        dsn: a `postgresql://` URL or a libpq connection string.
        schema: the PostgreSQL schema holding the tables (created unless `create` is False).
        create: when False, a schema without a convtrack store raises `DatabaseError`.
        pool_size: connections kept open at most.
        connect_timeout: seconds to wait for the server when connecting.
        write_timeout: seconds an export waits for a connection before it gives up (the
            pipeline retries it, then counts the runs as failed).
        connect: when False, the server is not waited for (an app then starts while its
            database is down: the runs written meanwhile are retried, then counted as
            failed); a background check tries it once and logs one warning line (logger
            `convtrack`) if it refuses, cannot be reached or turns the credentials down.
        idle_timeout: a conversation with no activity for this long (seconds, or a
            timedelta) counts as ended in queries, as if `end_conversation()` had been
            called. Default 30 minutes.

    Raises:
        convtrack.sinks.DatabaseError: the URL is bad; or (when `connect`) the server
            refuses or cannot be reached, the credentials are wrong, or the schema is not a
            convtrack store.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "convtrack",
        create: bool = True,
        pool_size: int = 4,
        connect_timeout: float = 5.0,
        write_timeout: float = 2.0,
        connect: bool = True,
        idle_timeout: float | timedelta = 1800.0,
    ) -> None:
        self.idle_timeout = idle_seconds(idle_timeout)
        super().__init__(dsn, schema, create, pool_size, connect_timeout, write_timeout, connect)

    # -- Sink ---------------------------------------------------------------------------

    def export(self, runs: Sequence[Run]) -> None:
        """Store `runs` and bring their conversations up to date, in one transaction.

        A run already stored (the same `run_id`) is ignored: exporting again changes nothing.

        Raises:
            StoreUnavailable: the server is unreachable, or the transaction was rolled back
                (a deadlock, a failover); nothing of the batch was stored.
        """
        if runs:
            with self._writing() as conn:
                write(conn, self._name, runs)

    def export_events(self, events: Sequence[Event]) -> None:
        """Store feedback (idempotent on `feedback_id`) and conversation ends (the latest
        end is kept), in one transaction.

        Raises:
            StoreUnavailable: the server is unreachable, or the transaction was rolled back.
        """
        if events:
            with self._writing() as conn:
                write_events(conn, self._name, events)

    def flush(self, timeout: float | None = None) -> bool:
        """Every export is committed already."""
        return True

    def close(self) -> None:
        """Close the connections."""
        self._pool.close()

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
        """Summaries of conversations, the most recently active first (the filters of
        `convtrack.SQLiteSink.conversations`; `text` is PostgreSQL full-text search, its
        words in order, case-insensitive; `feedback=` a feedback key; `ended=` ended by
        `end_conversation()` or idle longer than `idle_timeout`).

        Raises:
            ValueError: a filter that cannot be used (the message says which and why).
            convtrack.sinks.DatabaseError: the server cannot be reached.
        """
        check_limit(limit)
        idle_before = self._idle_before()
        found = filters(
            self._name,
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
        )
        statement = sql.SQL("SELECT {} FROM {}.conversations AS c").format(
            sql.SQL(_SUMMARY_SELECT).format(self._name),
            self._name,
        )
        if found.where:
            statement += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(found.where)
        statement += sql.SQL(" ORDER BY c.last_at DESC, c.conversation_id")
        params = list(found.params)
        if limit is not None:
            statement += sql.SQL(" LIMIT %s")
            params.append(limit)
        with self._reading() as conn:
            rows = conn.execute(statement, params).fetchall()
        return [summary_from_row(row, idle_before) for row in rows]

    def conversation(self, conversation_id: str) -> ConversationSummary | None:
        """One conversation's summary (None when the store holds nothing of it)."""
        statement = sql.SQL(
            "SELECT {} FROM {}.conversations AS c WHERE c.conversation_id = %s"
        ).format(sql.SQL(_SUMMARY_SELECT).format(self._name), self._name)
        with self._reading() as conn:
            row = conn.execute(statement, (conversation_id.replace("\x00", "\ufffd"),)).fetchone()
        return None if row is None else summary_from_row(row, self._idle_before())

    def _idle_before(self) -> int:
        """Now less `idle_timeout`, in microseconds: last active before it counts as ended."""
        return micros(datetime.now(timezone.utc)) - int(self.idle_timeout * 1_000_000)

    def feedback(
        self, conversation_id: str | None = None, *, run_id: str | None = None
    ) -> list[Feedback]:
        """The feedback on a conversation (including on its runs), or on one run (with
        `run_id`), oldest first.

        Raises:
            ValueError: neither given, or one that is not a string.
        """
        with self._reading() as conn:
            return read_feedback(conn, self._name, conversation_id, run_id)

    def search_runs(self, limit: int | None = 50, **filters: Any) -> list[Run]:
        """Runs, the most recently started first (`oldest_first=True`: the first first);
        the filters of `convtrack.SQLiteSink.search_runs`.

        Raises:
            ValueError: a filter that cannot be used (the message says which and why).
            convtrack.sinks.DatabaseError: the server cannot be reached.
        """
        with self._reading() as conn:
            return search_runs(conn, self._name, limit, **filters)

    def run(self, run_id: str) -> Run | None:
        """One run by its id (None when the store does not hold it).

        Raises:
            ValueError: an id that is not a string or is too long.
        """
        statement = sql.SQL("SELECT {} FROM {}.runs WHERE run_id = %s").format(
            sql.SQL(RUN_COLUMNS), self._name
        )
        wanted = checked_run_id(run_id)
        with self._reading() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(statement, (wanted,)).fetchone()
        return None if row is None else run_from_row(row)

    def runs(self, conversation_id: str | None = None) -> list[Run]:
        """The runs of one conversation (all runs when None), in start order."""
        columns = sql.SQL(RUN_COLUMNS)
        statement = sql.SQL("SELECT {} FROM {}.runs").format(columns, self._name)
        params: tuple[Any, ...] = ()
        if conversation_id is not None:
            statement += sql.SQL(" WHERE conversation_id = %s")
            params = (conversation_id.replace("\x00", "\ufffd"),)
        statement += sql.SQL(" ORDER BY started_at, run_id")
        with self._reading() as conn, conn.cursor(row_factory=dict_row) as cur:
            return [run_from_row(row) for row in cur.execute(statement, params)]

    def iter_runs(self, batch_size: int = 1000) -> Iterator[Run]:
        """Every run in the store, in start order, read in batches (for exports)."""
        statement = sql.SQL(
            "SELECT {} FROM {}.runs WHERE (started_at, run_id) > (%s, %s)"
            " ORDER BY started_at, run_id LIMIT %s"
        ).format(sql.SQL(RUN_COLUMNS), self._name)
        last: tuple[int, str] = (-(2**63), "")
        while True:
            with self._reading() as conn, conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(statement, (*last, batch_size)).fetchall()
            if not rows:
                return
            for row in rows:
                yield run_from_row(row)
            last = (rows[-1]["started_at"], rows[-1]["run_id"])

    def count(self) -> int:
        """How many runs the store holds."""
        with self._reading() as conn:
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}.runs").format(self._name))
            return int(row.fetchone()[0])  # type: ignore[index]

    # -- retention ----------------------------------------------------------------------

    def prune(
        self,
        before: datetime,
        *,
        batch_size: int = 500,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Delete the conversations last active before `before`, whole, with everything kept
        for them (runs, search text, feedback); and runs of no conversation that started
        before it. Each batch of conversations is its own transaction.

        Returns:
            How many conversations were deleted.
        """
        return prune(self._reading, self._name, time_filter("before", before), batch_size, progress)

    def vacuum(self) -> None:
        """Give the space of deleted rows back for reuse and refresh the planner's statistics."""
        with self._reading() as conn:
            for table in ("runs", "conversations", "search_documents", "feedback"):
                conn.execute(
                    sql.SQL("VACUUM ANALYZE {}.{}").format(self._name, sql.Identifier(table))
                )
