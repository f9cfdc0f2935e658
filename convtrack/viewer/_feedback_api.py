"""`POST /api/feedback`: feedback on a conversation or a run, from this machine or with a token.

The viewer only reads, but for this: a person (or a script) judging a conversation. The
request comes from a loopback address, or carries the token `convtrack ui --feedback-token`
was started with (`Authorization: Bearer TOKEN`); anything else is refused. The body is JSON:
`{"conversation_id"?, "run_id"?, "key", "score"?, "value"?, "comment"?}`.
"""

from __future__ import annotations

import hmac
import ipaddress

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._events import make_feedback
from .._json import dumps, loads
from ._responses import error
from ._store import ViewerStore

MAX_BODY = 64 * 1024
FIELDS = frozenset({"conversation_id", "run_id", "key", "score", "value", "comment"})


def _from_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def feedback_route(store: ViewerStore, token: str | None) -> Route:
    """The route of `POST /api/feedback` over `store`."""

    async def post_feedback(request: Request) -> Response:
        if token is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return error(401, "feedback: send the viewer's token (Authorization: Bearer ...)")
        elif not _from_loopback(request):
            return error(403, "feedback: only from this machine (or start with --feedback-token)")
        # JSON only: a page on another site cannot send it without a CORS preflight, which
        # the viewer never grants (no cross-site request forgery through a browser)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return error(415, "feedback: send the body as application/json")
        body = await request.body()
        if len(body) > MAX_BODY:
            return error(413, f"feedback: a body of at most {MAX_BODY} bytes")
        try:
            data = loads(body)
        except ValueError:
            return error(400, "feedback: the body is not JSON")
        if not isinstance(data, dict):
            return error(400, "feedback: the body must be a JSON object")
        unknown = sorted(set(data) - FIELDS)
        if unknown:
            return error(400, f"feedback: unknown field {unknown[0]!r:.80}")
        try:
            record = make_feedback(
                data.get("conversation_id"),
                data.get("run_id"),
                data.get("key"),
                data.get("score"),
                data.get("value"),
                data.get("comment"),
            )
        except (TypeError, ValueError) as exc:
            return error(400, str(exc))
        export = getattr(store.sink, "export_events", None)
        if export is None:
            return error(501, "feedback: this store does not keep feedback")
        export([record])
        payload = {"feedback_id": record.feedback_id, "conversation_id": record.conversation_id}
        return Response(dumps(payload), 201, media_type="application/json")

    return Route("/api/feedback", post_feedback, methods=["POST"])
