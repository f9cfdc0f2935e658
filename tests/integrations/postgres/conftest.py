"""A real PostgreSQL server for the convtrack-postgres tests (skipped only where none starts;
on CI, where the variable CI is set, that is a failure instead)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from convtrack_postgres import PostgresSink
from pg_support import PostgresServer, fresh_schema, shared_server


def _unavailable(exc: Exception) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the PostgreSQL tests, but no server starts: {exc}")
    pytest.skip(f"no PostgreSQL server can be started here: {exc}")


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    """The session's server (shared with the store tests of tests/core/store)."""
    try:
        return shared_server()
    except RuntimeError as exc:
        _unavailable(exc)
        raise


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of the session's test database."""
    return postgres_server.dsn("convtrack_test")


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[PostgresSink]:
    """An empty store in a schema of its own (the test runs of 2026-03-01 never idle out)."""
    sink = PostgresSink(postgres_url, schema=fresh_schema(), idle_timeout=100 * 365 * 86400.0)
    try:
        yield sink
    finally:
        sink.close()


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server of the test's own, which it may stop and start again."""
    try:
        server = PostgresServer()
        server.start()
    except RuntimeError as exc:
        _unavailable(exc)
        raise
    try:
        yield server
    finally:
        server.remove()
