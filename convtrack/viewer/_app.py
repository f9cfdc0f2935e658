"""The viewer's Starlette app: two pages, their static assets, and the JSON API they poll."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .._json import dumps
from ..sinks import next_cursor
from ._feedback_api import feedback_endpoint
from ._openapi import openapi_document
from ._params import BadRequestError, cache_key, parse_list_query
from ._payload import conversation_payload, summary_to_dict
from ._runs_api import runs_endpoints
from ._security import SecurityHeadersMiddleware
from ._store import ViewerStore

STATIC = Path(__file__).with_name("static")
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class _Asset:
    body: bytes
    media_type: str
    etag: str


def _load_assets() -> dict[str, _Asset]:
    assets = {}
    for path in sorted(STATIC.iterdir()):
        if path.suffix in _TYPES:
            body = path.read_bytes()
            etag = f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'
            assets[path.name] = _Asset(body, _TYPES[path.suffix], etag)
    return assets


def _cached(request: Request, body: bytes, media_type: str, etag: str) -> Response:
    """`body` with its entity tag, or a bodiless 304 when the client has it already."""
    headers = {"etag": etag, "cache-control": "no-cache"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": message}, status_code=status, headers={"cache-control": "no-cache"}
    )


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
    assets = _load_assets()
    page = assets["index.html"]
    search_runs, show_run = runs_endpoints(store, _error, _cached)
    post_feedback = feedback_endpoint(store, _error, feedback_token)
    described = dumps(openapi_document()).encode()
    described_tag = f'"{hashlib.blake2b(described, digest_size=12).hexdigest()}"'

    def openapi(request: Request) -> Response:
        return _cached(request, described, "application/json", described_tag)

    def show_page(request: Request) -> Response:
        return _cached(request, page.body, page.media_type, page.etag)

    def static(request: Request) -> Response:
        asset = assets.get(request.path_params["name"])
        if asset is None or asset is page:
            raise HTTPException(404)
        return _cached(request, asset.body, asset.media_type, asset.etag)

    def list_conversations(request: Request) -> Response:
        params = request.query_params
        metadata = params.getlist("metadata")
        try:
            query = parse_list_query(params, multi=metadata)
        except BadRequestError as exc:
            return _error(400, str(exc))

        def build() -> bytes:
            summaries = store.sink.conversations(
                query.limit,
                user_id=query.user_id,
                agent_id=query.agent_id,
                since=query.since,
                until=query.until,
                query=query.query,
                metadata=query.metadata,
                text=query.text,
                status=query.status,
                before=query.before,
                feedback=query.feedback,
                ended=query.ended,
            )
            payload = {
                "db": store.path.name,
                "limit": query.limit,
                "conversations": [summary_to_dict(s) for s in summaries],
                "next_cursor": next_cursor(summaries) if len(summaries) == query.limit else None,
            }
            return dumps(payload).encode()

        try:
            answer = store.answer("list\x00" + cache_key(params, metadata), build)
        except ValueError as exc:  # a filter the store refuses (status, cursor, metadata)
            return _error(400, str(exc))
        return _cached(request, answer.body or b"", "application/json", answer.etag)

    def show_conversation(request: Request) -> Response:
        conversation_id: str = request.path_params["conversation_id"]

        def build() -> bytes | None:
            runs = store.sink.runs(conversation_id)
            if not runs:
                return None
            stored = store.sink.conversation(conversation_id)
            feedback = store.sink.feedback(conversation_id)
            return dumps(conversation_payload(conversation_id, runs, stored, feedback)).encode()

        answer = store.answer("conversation\x00" + conversation_id, build)
        if answer.body is None:
            return _error(404, f"no conversation {conversation_id!r}")
        return _cached(request, answer.body, "application/json", answer.etag)

    async def not_found(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return _error(404, "not found")
        return PlainTextResponse("not found", status_code=404)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            store.close()

    app = Starlette(
        routes=[
            Route("/", show_page),
            Route("/c/{conversation_id:path}", show_page),
            Route("/static/{name}", static),
            Route("/api/openapi.json", openapi),
            Route("/api/conversations", list_conversations),
            Route("/api/conversations/{conversation_id:path}", show_conversation),
            Route("/api/runs", search_runs),
            Route("/api/runs/{run_id:path}", show_run),
            Route("/api/feedback", post_feedback, methods=["POST"]),
        ],
        middleware=[Middleware(SecurityHeadersMiddleware, allowed_hosts=allowed_hosts)],
        exception_handlers={404: not_found},
        lifespan=lifespan,
    )
    app.state.store = store
    return app
