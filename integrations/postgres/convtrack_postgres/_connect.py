"""Reaching the server: messages without passwords, one line each, and the check at startup.

`configure(sinks=["postgresql://..."])` must not stop an app whose database is down, so
the store is opened without waiting for the server; a daemon thread then tries it once and,
when the server refuses, cannot be reached or turns the credentials down, logs one warning
line saying so (the runs written meanwhile are retried, then counted as failed).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from psycopg.conninfo import conninfo_to_dict

from convtrack.sinks import DatabaseError

logger = logging.getLogger("convtrack")


class StoreUnavailable(Exception):
    """The server could not be reached or the batch was rolled back: try again later."""

    transient = True  # the pipeline retries it, then counts the batch as failed


def describe(dsn: str) -> str:
    """The server and database of a DSN, without its password (for messages)."""
    try:
        info = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "PostgreSQL"
    host, port, db = info.get("host") or "localhost", info.get("port"), info.get("dbname")
    where = f"{host}:{port}" if port else str(host)
    return f"PostgreSQL at {where}" + (f"/{db}" if db else "")


def one_line(exc: BaseException) -> str:
    """The cause in a libpq message, on one line (`Connection refused`, `password ...`)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    cause = lines[0].rsplit(" failed: ", 1)[-1]
    return cause.removeprefix("FATAL:").strip()


def check_in_background(where: str, attempt: Callable[[], None]) -> threading.Thread:
    """Run `attempt` (connect, prepare the schema) once on a daemon thread; log one warning
    line if it fails. Returns the thread (started)."""

    def check() -> None:
        try:
            attempt()
        except psycopg.Error as exc:
            logger.warning(
                "convtrack: cannot open %s: %s; runs sent to it are retried, then counted as"
                " failed (convtrack.stats())",
                where,
                one_line(exc),
            )
        except DatabaseError as exc:
            logger.warning("convtrack: %s; runs sent to it are counted as failed", exc)

    thread = threading.Thread(target=check, name="convtrack-postgres-check", daemon=True)
    thread.start()
    return thread
