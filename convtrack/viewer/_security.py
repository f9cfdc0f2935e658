"""Security headers on every response (errors included), and a Host check against DNS
rebinding."""

from __future__ import annotations

from collections.abc import Collection

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def host_name(host_header: str) -> str:
    """The host of a Host header, without its port or IPv6 brackets, lower-cased."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class SecurityHeadersMiddleware:
    """Adds a strict Content-Security-Policy (and friends) to every HTTP response.

    An exception from the app becomes a 500 JSON answer with the same headers (then goes on
    up, for the server to log), rather than a bare page from the server.

    Args:
        app: the wrapped ASGI app.
        allowed_hosts: when given, a request whose Host header names another host gets a
            400: a page on another site that rebinds its DNS name to 127.0.0.1 cannot read
            the viewer's data.
    """

    def __init__(self, app: ASGIApp, allowed_hosts: Collection[str] | None = None) -> None:
        self.app = app
        self.allowed_hosts = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the host, then pass the request on, adding headers to the response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.allowed_hosts is not None:
            host = host_name(Headers(scope=scope).get("host", ""))
            if host not in self.allowed_hosts:
                response = JSONResponse({"error": "unknown host"}, status_code=400)
                await self._with_headers(response)(scope, receive, send)
                return
        started = False

        async def send_started(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._with_headers(self.app)(scope, receive, send_started)
        except Exception:
            if started:
                raise
            failed = JSONResponse(
                {"error": "internal error"}, status_code=500, headers={"cache-control": "no-store"}
            )
            await self._with_headers(failed)(scope, receive, send)
            raise

    @staticmethod
    def _with_headers(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = MutableHeaders(scope=message)
                    for name, value in _HEADERS.items():
                        headers.setdefault(name, value)
                await send(message)

            await app(scope, receive, send_with_headers)

        return wrapped
