"""The viewer's answers: JSON errors, and bodies with an entity tag (304 when unchanged)."""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


def etag_of(body: bytes) -> str:
    """The entity tag of a body (quoted, as HTTP writes it)."""
    return f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'


def cached(request: Request, body: bytes, media_type: str, etag: str) -> Response:
    """`body` with its entity tag, or a bodiless 304 when the client has it already."""
    headers = {"etag": etag, "cache-control": "no-cache"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def error(status: int, message: str) -> JSONResponse:
    """A JSON error: `{"error": message}` with `status`."""
    return JSONResponse(
        {"error": message}, status_code=status, headers={"cache-control": "no-cache"}
    )
