"""The connections of a PostgreSQL store: a pool (one per process, made again after a fork),
the schema prepared once, and the server's trouble as the errors the pipeline expects."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from convtrack.sinks import DatabaseError

from ._connect import StoreUnavailable, check_in_background, describe, one_line
from ._schema import SchemaError, prepare

_TRANSIENT = (psycopg.OperationalError, psycopg.errors.TransactionRollback)
logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)  # convtrack reports instead


class Connections:
    """A store's way to its server (see `PostgresSink` for the arguments)."""

    def __init__(
        self,
        dsn: str,
        schema: str,
        create: bool,
        pool_size: int,
        connect_timeout: float,
        write_timeout: float,
        connect: bool,
    ) -> None:
        if not isinstance(schema, str) or not schema or len(schema) > 63:
            raise ValueError(f"schema: expected a name of 1 to 63 characters, got {schema!r:.80}")
        self.dsn = dsn
        self.schema = schema
        self._name = sql.Identifier(schema)
        self._where = describe(dsn)
        self._write_timeout = write_timeout
        self._timeout = max(1, round(connect_timeout))
        self._kwargs: dict[str, Any] = {"connect_timeout": self._timeout, "autocommit": True}
        self._create = create
        self._ready = False  # the schema checked (created, migrated) on the server
        self._ready_lock = threading.Lock()
        self.checked: threading.Thread | None = None  # the startup check (`connect=False`)
        try:
            conninfo_to_dict(dsn)
            if connect:
                self._open_once()
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot open {self._where}: {one_line(exc)}") from None
        self._pid = os.getpid()
        self._pool_size = pool_size
        self._pool = self._new_pool()
        if not connect:  # the server is not waited for; trouble with it is logged, one line
            self.checked = check_in_background(self._where, self._open_once)

    def _open_once(self) -> None:
        """Connect and create or migrate the schema (psycopg.Error: the server's trouble)."""
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=self._timeout) as conn:
            self._prepare(conn)

    def _new_pool(self) -> ConnectionPool:
        return ConnectionPool(
            self.dsn,
            min_size=1,
            max_size=self._pool_size,
            kwargs=self._kwargs,
            check=ConnectionPool.check_connection,
            reconnect_timeout=24 * 3600.0,
            name=f"convtrack-{self.schema}",
            open=True,
        )

    def _prepare(self, conn: psycopg.Connection[Any]) -> None:
        """Create or migrate the schema, once (DatabaseError: not a store this can use)."""
        with self._ready_lock:
            if self._ready:
                return
            try:
                prepare(conn, self.schema, self._create)
            except SchemaError as exc:
                raise DatabaseError(f"{self._where}: {exc}") from None
            self._ready = True

    @contextmanager
    def _connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection[Any]]:
        if self._pid != os.getpid():  # a forked child must not share the parent's sockets
            self._pid = os.getpid()
            self._pool = self._new_pool()
        with self._pool.connection(timeout=timeout) as conn:
            if not self._ready:
                self._prepare(conn)
            yield conn

    @contextmanager
    def _reading(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._connection(timeout=self._timeout) as conn:
                yield conn
        except _TRANSIENT as exc:
            raise DatabaseError(f"cannot read {self._where}: {one_line(exc)}") from None

    @contextmanager
    def _writing(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection to write with (StoreUnavailable: the server's trouble, retried)."""
        try:
            with self._connection(timeout=self._write_timeout) as conn:
                yield conn
        except _TRANSIENT as exc:
            raise StoreUnavailable(f"{self._where}: {one_line(exc)}") from None
