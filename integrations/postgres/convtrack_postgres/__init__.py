"""convtrack-postgres: a PostgreSQL store for convtrack, shared by the replicas of an app.

    from convtrack_postgres import PostgresSink
    convtrack.configure(sinks=[PostgresSink("postgresql://app@db/app")])

or name it by URL wherever convtrack takes a store: `configure(sinks=["postgresql://..."])`,
`convtrack conversations --db postgresql://...`, `convtrack ui --db postgresql://...`.
"""

from __future__ import annotations

from typing import Any

from ._connect import StoreUnavailable
from ._schema import SCHEMA_VERSION
from ._sink import PostgresSink

__version__ = "0.1.0"


def open_store(url: str, *, create: bool = True, connect: bool = True) -> PostgresSink:
    """The store of a `postgresql://` URL (the `convtrack.stores` entry point).

    A `schema` query parameter names the PostgreSQL schema (default `convtrack`).

    Args:
        url: the URL.
        create: whether a missing store may be created.
        connect: False: reach the server on first use only (see `PostgresSink`).

    Raises:
        convtrack.sinks.DatabaseError: the server cannot be reached or refuses (one line).
    """
    options: dict[str, Any] = {}
    base, _, query = url.partition("?")
    kept = []
    for part in query.split("&") if query else []:
        key, _, value = part.partition("=")
        if key == "schema" and value:
            options["schema"] = value
        else:
            kept.append(part)
    dsn = base + ("?" + "&".join(kept) if kept else "")
    return PostgresSink(dsn, create=create, connect=connect, **options)


__all__ = ["SCHEMA_VERSION", "PostgresSink", "StoreUnavailable", "__version__", "open_store"]
