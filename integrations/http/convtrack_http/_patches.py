"""Global instrumentation: every httpx and requests request made inside a conversation."""

from __future__ import annotations

import contextvars
from typing import Any
from urllib.parse import urlsplit

from convtrack.instrumentation import Instrumentor, Target, report

from ._propagator import Added, Propagator

# The propagator `instrument()` set up (None while off): the wrappers read it on every call.
_active: Propagator | None = None
# requests: what the outermost `Session.send` added, for the redirect hops sent inside it.
_requests_added: contextvars.ContextVar[Added | None] = contextvars.ContextVar(
    "convtrack_http.requests_added", default=None
)


def _httpx_send(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    propagator = _active
    if propagator is not None and args:
        propagator.httpx_hook(args[0])  # reports its own failures
    return wrapped(*args, **kwargs)


async def _httpx_asend(
    wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    propagator = _active
    if propagator is not None and args:
        propagator.httpx_hook(args[0])
    return await wrapped(*args, **kwargs)


def _requests_send(
    wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    propagator = _active
    if propagator is None or not args:
        return wrapped(*args, **kwargs)
    token = None
    try:
        request = args[0]
        host = urlsplit(request.url).hostname or ""
        outer = _requests_added.get()
        if outer is None:  # the request itself
            token = _requests_added.set(propagator.tag(request.headers, host))
        else:  # a redirect hop, sent by the outer `send`
            _requests_added.set(propagator.retag(request.headers, host, outer))
    except Exception as exc:
        report("http (requests request)", exc)
    try:
        return wrapped(*args, **kwargs)
    finally:
        if token is not None:
            _requests_added.reset(token)


class HttpInstrumentor(Instrumentor):
    """Tags the requests of httpx (sync and async, and its fork httpx2) and requests."""

    library = "httpx, httpx2, requests"

    def targets(self) -> list[Target]:
        """Each hop of a request (redirects included): httpx's and requests' send."""
        found: list[Target] = []
        for httpx in ("httpx", "httpx2"):  # httpx2: pydantic's fork (the OpenAI, Anthropic SDKs)
            if _importable(httpx):
                found.append((httpx, "Client", "_send_single_request", _httpx_send))
                found.append((httpx, "AsyncClient", "_send_single_request", _httpx_asend))
        if _importable("requests"):
            found.append(("requests", "Session", "send", _requests_send))
        return found

    def configure(self, propagator: Propagator) -> None:
        """Use `propagator` from now on, and turn the patches on."""
        global _active
        self.instrument()
        _active = propagator

    def _on_uninstrument(self) -> None:
        global _active
        _active = None


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True
