"""The viewer's pages, their static assets, and the OpenAPI document, each with its etag."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._json import dumps
from ._openapi import openapi_document
from ._responses import cached, etag_of

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
            assets[path.name] = _Asset(body, _TYPES[path.suffix], etag_of(body))
    return assets


def page_routes() -> list[Route]:
    """`/` and `/c/{id}` (one page, the script routes), `/static/{name}`, `/api/openapi.json`."""
    assets = _load_assets()
    page = assets["index.html"]
    described = dumps(openapi_document()).encode()
    described_tag = etag_of(described)

    def show_page(request: Request) -> Response:
        return cached(request, page.body, page.media_type, page.etag)

    def static(request: Request) -> Response:
        asset = assets.get(request.path_params["name"])
        if asset is None or asset is page:
            raise HTTPException(404)
        return cached(request, asset.body, asset.media_type, asset.etag)

    def openapi(request: Request) -> Response:
        return cached(request, described, "application/json", described_tag)

    return [
        Route("/", show_page),
        Route("/c/{conversation_id:path}", show_page),
        Route("/static/{name}", static),
        Route("/api/openapi.json", openapi),
    ]
