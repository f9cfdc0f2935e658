"""SQLiteSink: the embedded default store (WAL, versioned schema, queryable by conversation)."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._json import dumps, loads
from .._runs import Run, RunKind, datetime_of_ns, times_ns

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    parent_run_id TEXT,
    root_run_id TEXT NOT NULL,
    conversation_id TEXT,
    user_id TEXT,
    agent_id TEXT,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    grouping TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    model TEXT,
    inputs TEXT,
    outputs TEXT,
    usage TEXT,
    metadata TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_conversation ON runs (conversation_id, started_at);
CREATE INDEX IF NOT EXISTS runs_by_user ON runs (user_id, started_at);
"""
_COLUMNS = (
    "run_id, parent_run_id, root_run_id, conversation_id, user_id, agent_id, kind, name,"
    " source, grouping, started_at, ended_at, status, error, model, inputs, outputs, usage,"
    " metadata"
)
_INSERT = f"INSERT OR REPLACE INTO runs ({_COLUMNS}) VALUES ({', '.join('?' * 19)})"
_UTC = timezone.utc


class DatabaseError(Exception):
    """The file is missing, not a convtrack database, or from a newer convtrack."""


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """One conversation as the store sees it."""

    conversation_id: str
    user_id: str | None
    agent_id: str | None
    first_at: datetime
    last_at: datetime
    run_count: int
    llm_count: int
    inferred: bool = False  # decided by automatic grouping (no id was given)


def _micros(dt: datetime) -> int:
    return int(dt.timestamp() * 1_000_000)


def _from_micros(us: int) -> datetime:
    return datetime_of_ns(us * 1000)


def _json_or_null(value: Any) -> str | None:
    return None if value is None else dumps(value)


def _row(run: Run) -> tuple[Any, ...]:
    start_ns, end_ns = times_ns(run)
    return (
        run.run_id,
        run.parent_run_id,
        run.root_run_id,
        run.conversation_id,
        run.user_id,
        run.agent_id,
        run.kind.value,
        run.name,
        run.source,
        run.grouping,
        start_ns // 1000,
        end_ns // 1000,
        run.status,
        run.error,
        run.model,
        _json_or_null(run.inputs),
        _json_or_null(run.outputs),
        _json_or_null(run.usage),
        dumps(run.metadata) if run.metadata else None,
    )


def _run(row: sqlite3.Row) -> Run:
    return Run(
        run_id=row["run_id"],
        parent_run_id=row["parent_run_id"],
        root_run_id=row["root_run_id"],
        conversation_id=row["conversation_id"],
        user_id=row["user_id"],
        agent_id=row["agent_id"],
        kind=RunKind(row["kind"]),
        name=row["name"],
        source=row["source"],
        grouping=row["grouping"],
        started_at=_from_micros(row["started_at"]),
        ended_at=_from_micros(row["ended_at"]),
        status=row["status"],
        error=row["error"],
        model=row["model"],
        inputs=loads(row["inputs"]),
        outputs=loads(row["outputs"]),
        usage=loads(row["usage"]),
        metadata=loads(row["metadata"]) or {},
    )


class SQLiteSink:
    """Stores runs in a SQLite file and answers questions about conversations.

    Args:
        path: the database file (created with its folder unless `create` is False).
        create: when False, a missing file raises `DatabaseError` instead of being created.
    """

    def __init__(
        self, path: str | os.PathLike[str] = "convtrack.db", *, create: bool = True
    ) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise DatabaseError(f"no convtrack database at {self.path}")
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._conn = self._open(create)

    def _open(self, create: bool) -> sqlite3.Connection:
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 5000")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if version > SCHEMA_VERSION:
                raise DatabaseError(
                    f"{self.path} was written by a newer convtrack (schema {version}); "
                    "upgrade convtrack"
                )
            if version == 0 and tables - {"runs"}:
                raise DatabaseError(f"{self.path} is not a convtrack database")
            if version == 0 and not create:
                raise DatabaseError(f"{self.path} is not a convtrack database")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            if version == 0:
                conn.executescript(_SCHEMA)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise DatabaseError(f"{self.path} is not a convtrack database ({exc})") from exc
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._pid != os.getpid():  # a forked child must not share the parent's handle
                self._pid = os.getpid()
                self._conn = self._open(True)
            yield self._conn

    # -- Sink ---------------------------------------------------------------------------

    def export(self, runs: Sequence[Run]) -> None:
        """Insert `runs` in one transaction (a run exported twice is stored once)."""
        rows = [_row(run) for run in runs]
        with self._connection() as conn:
            conn.execute("BEGIN")
            try:
                conn.executemany(_INSERT, rows)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

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
        query: str | None = None,
    ) -> list[ConversationSummary]:
        """Summaries of conversations, the most recently active first.

        Args:
            limit: at most this many (None: all).
            user_id: only conversations of this user.
            agent_id: only conversations of this agent.
            since: only conversations active at or after this time.
            query: only conversations whose id contains this text.
        """
        where = ["conversation_id IS NOT NULL"]
        params: list[Any] = []
        if user_id is not None:
            where.append("conversation_id IN (SELECT conversation_id FROM runs WHERE user_id = ?)")
            params.append(user_id)
        if agent_id is not None:
            where.append("conversation_id IN (SELECT conversation_id FROM runs WHERE agent_id = ?)")
            params.append(agent_id)
        if query:
            where.append("instr(conversation_id, ?) > 0")
            params.append(query)
        having = ""
        if since is not None:
            having = "HAVING MAX(ended_at) >= ?"
            params.append(_micros(since if since.tzinfo else since.replace(tzinfo=_UTC)))
        sql = (
            "SELECT conversation_id, MAX(user_id) AS user_id, MAX(agent_id) AS agent_id,"
            " MIN(started_at) AS first_at, MAX(ended_at) AS last_at, COUNT(*) AS run_count,"
            # an LLM run inside an LLM run is the same model call (see nested_llm_run_ids)
            " SUM(kind = 'llm' AND NOT EXISTS (SELECT 1 FROM runs AS p"
            " WHERE p.run_id = r.parent_run_id AND p.kind = 'llm')) AS llm_count,"
            " MAX(grouping IN ('auto-matched', 'auto-new')) AS inferred"
            f" FROM runs AS r WHERE {' AND '.join(where)} GROUP BY conversation_id {having}"
            " ORDER BY last_at DESC, conversation_id"
        )
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self._connection() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [
            ConversationSummary(
                conversation_id=r["conversation_id"],
                user_id=r["user_id"],
                agent_id=r["agent_id"],
                first_at=_from_micros(r["first_at"]),
                last_at=_from_micros(r["last_at"]),
                run_count=r["run_count"],
                llm_count=r["llm_count"] or 0,
                inferred=bool(r["inferred"]),
            )
            for r in rows
        ]

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
