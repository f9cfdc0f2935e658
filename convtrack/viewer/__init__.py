"""The local web viewer: conversations, transcripts and run trees from a SQLite store.

Example:
    >>> from convtrack.viewer import create_app
    >>> app = create_app("convtrack.db")   # an ASGI app: serve it with uvicorn
    # or from a shell: convtrack ui --db convtrack.db

Needs the `ui` extra (Starlette, uvicorn): `pip install 'convtrack[ui]'`.
"""

from __future__ import annotations

try:
    import starlette as _starlette  # noqa: F401  (fail here, with the fix, not deep inside)
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError("the convtrack viewer needs Starlette: pip install 'convtrack[ui]'") from exc

from ._app import create_app

__all__ = ["create_app"]
