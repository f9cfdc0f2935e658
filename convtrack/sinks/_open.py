"""One store name everywhere: a file path or `sqlite:///path` (relative;
`sqlite:////abs/path`) is SQLite; another URL scheme
names a store an installed package registers (entry point group `convtrack.stores`, e.g.
`postgresql://` from `convtrack-postgres`), so the core imports no integration."""

from __future__ import annotations

import os
import re
from typing import Any

from ._sqlite import DatabaseError, SQLiteSink

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_PACKAGES = {"postgresql": "convtrack-postgres", "postgres": "convtrack-postgres"}


def is_url(name: str) -> bool:
    """Whether `name` is a URL (`scheme://...`) rather than a file path."""
    return _SCHEME.match(name) is not None


def open_store(
    path_or_url: str | os.PathLike[str], *, create: bool = True, connect: bool = True
) -> Any:
    """The store a path or URL names: `SQLiteSink` or a registered store (`PostgresSink`).

    Args:
        path_or_url: a file path, `sqlite:///path`, or a URL such as `postgresql://...`.
        create: whether a missing store may be created (False: a missing one raises).
        connect: False: a server store reaches its server on first use only, so an app
            starts while its database is down (`configure(sinks=[url])` passes False).

    Raises:
        DatabaseError: an unknown scheme, a store that cannot be opened or reached (the
            message is one line saying why).
    """
    name = os.fspath(path_or_url)
    found = _SCHEME.match(name)
    if found is None:
        return SQLiteSink(name, create=create)
    scheme = found.group(1).lower()
    if scheme == "sqlite":
        path = name[found.end() :]  # as SQLAlchemy: sqlite:///app.db, sqlite:////abs/app.db
        if not path.startswith("/") or len(path) < 2:
            raise DatabaseError(f"{name}: expected sqlite:///relative/path or sqlite:////abs/path")
        path = path[1:]
        return SQLiteSink(path, create=create)
    from importlib.metadata import entry_points

    for ep in entry_points(group="convtrack.stores"):
        if ep.name == scheme:
            return ep.load()(name, create=create, connect=connect)
    hint = f" (pip install {_PACKAGES[scheme]})" if scheme in _PACKAGES else ""
    raise DatabaseError(f"no store is installed for {scheme}:// URLs{hint}")
