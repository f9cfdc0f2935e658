"""The store tests run against each store: SQLite, and PostgreSQL (a real server)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from store_support import NEVER_IDLE

from convtrack import SQLiteSink

sys.path.insert(0, str(Path(__file__).parents[2] / "integrations" / "postgres"))
from pg_support import fresh_schema, shared_server

STORES = ["sqlite", "postgres"]


def postgres_url() -> str:
    """The test database of the session's PostgreSQL server; skips (fails on CI) without one."""
    try:
        return shared_server().dsn("convtrack_test")
    except RuntimeError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests, but no server starts: {exc}")
        pytest.skip(f"no PostgreSQL server can be started here: {exc}")


@pytest.fixture(params=STORES)
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Any]]:
    """Makes empty stores of one kind (each a new SQLite file or PostgreSQL schema)."""
    opened: list[Any] = []
    url = postgres_url() if request.param == "postgres" else ""

    def make() -> Any:
        if url:
            from convtrack_postgres import PostgresSink

            sink: Any = PostgresSink(url, schema=fresh_schema(), idle_timeout=NEVER_IDLE)
        else:
            sink = SQLiteSink(tmp_path / f"store-{len(opened)}.db", idle_timeout=NEVER_IDLE)
        opened.append(sink)
        return sink

    yield make
    for sink in opened:
        sink.close()
