"""The viewer's Starlette app: its pages and JSON API (each in a module of its own), the
security headers, and the store they read."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ._conversations_api import conversation_routes
from ._feedback_api import feedback_route
from ._pages import page_routes
from ._responses import error
from ._runs_api import run_routes
from ._security import SecurityHeadersMiddleware
from ._store import ViewerStore


def create_app(
    db_path: str | os.PathLike[str],
    *,
    allowed_hosts: Collection[str] | None = None,
    feedback_token: str | None = None,
) -> Starlette:
    """The viewer as an ASGI app reading the convtrack SQLite store at `db_path`.

    Pages: `/` (the conversations) and `/c/{conversation_id}` (one conversation). API:
    `GET /api/conversations?user_id=&agent_id=&q=&since=&until=&metadata=key=value&text=
    &status=error|ok&feedback=KEY&ended=true|false&before=CURSOR&limit=` (every filter of
    `SQLiteSink.conversations`; `next_cursor` in the answer continues a full page; a bad
    filter is a 400) and `GET /api/conversations/{conversation_id}` (with its feedback and
    whether it ended), `GET /api/runs?conversation_id=&kind=&status=&model=&metadata=&text=
    &since=&until=&before=&limit=` and `GET /api/runs/{run_id}`, described by the OpenAPI
    document at `GET /api/openapi.json`. The store is only read (a version-1 file is
    migrated once when opened).

    Args:
        db_path: the SQLite file an application writes with `SQLiteSink`.
        allowed_hosts: host names the app answers to (None: any). `convtrack ui` passes the
            loopback names when it binds to loopback, against DNS rebinding.
        feedback_token: the token `POST /api/feedback` requires (`Authorization: Bearer`);
            None: feedback is taken from loopback clients only.

    Raises:
        convtrack.sinks.DatabaseError: the file is missing or not a convtrack database.
    """
    store = ViewerStore(db_path)

    async def not_found(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return error(404, "not found")
        return PlainTextResponse("not found", status_code=404)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            store.close()

    app = Starlette(
        routes=[
            *page_routes(),
            *conversation_routes(store),
            *run_routes(store),
            feedback_route(store, feedback_token),
        ],
        middleware=[Middleware(SecurityHeadersMiddleware, allowed_hosts=allowed_hosts)],
        exception_handlers={404: not_found},
        lifespan=lifespan,
    )
    app.state.store = store
    return app
