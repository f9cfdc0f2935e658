"""An MCP server over a convtrack store: agents search and read recorded conversations.

Example:
    >>> from convtrack.mcp import create_server
    >>> from convtrack.sinks import SQLiteSink
    >>> server = create_server(SQLiteSink("convtrack.db", create=False))
    >>> server.run()   # stdio; or from a shell: convtrack mcp --db convtrack.db

Tools (read only): `search_conversations`, `get_conversation` (paged by a character
budget), `search_runs`, `get_run`. Needs the `mcp` extra: `pip install 'convtrack[mcp]'`.
"""

from __future__ import annotations

try:
    import mcp as _mcp  # noqa: F401  (fail here, with the fix, not deep inside)
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError("the convtrack MCP server needs mcp: pip install 'convtrack[mcp]'") from exc

from ._read import Reader, Store
from ._server import create_server, serve_http

__all__ = ["Reader", "Store", "create_server", "serve_http"]
