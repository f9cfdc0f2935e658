"""Per-request cost of ConversationMiddleware on a small Starlette app, in-process.

Calls the ASGI apps directly with a fake receive/send (no HTTP, no server) and compares a bare
Starlette app with the same app behind ``ConversationMiddleware``:

- recorded: convtrack configured with a no-op sink, so every request records its http run
  (goal: <= 1.3x bare);
- not configured: convtrack is imported but not configured (goal: <= 1.12x bare).

Each case runs with the client sending an id (``x-conversation-id``) and without one (the
middleware makes a uuid7). References measured in the same run: a no-op middleware, the least
a middleware can do for this job (find the header, set a ContextVar, echo it), the core's run
alone, and asgi-correlation-id when installed. Prints the median (and best) per-request time of
many short interleaved batches, and the ratios.

Run: ``.venv/bin/python benchmarks/bench_asgi.py [--requests 500] [--repeats 61]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Sequence
from contextvars import ContextVar
from typing import Any

from convtrack_asgi import ConversationMiddleware
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import convtrack
from convtrack import Run
from convtrack._handle import RunHandle
from convtrack._resolve import Decision
from convtrack._runs import RunKind
from convtrack._start import start_run

GOALS = {"recorded": 1.3, "not configured": 1.12}


class NullSink:
    """A sink that drops every run (measures the middleware, not a storage)."""

    def export(self, runs: Sequence[Run]) -> None:
        """Drop the runs."""

    def flush(self, timeout: float | None = None) -> bool:
        """Nothing to flush."""
        return True

    def close(self) -> None:
        """Nothing to close."""


async def item(request: Request) -> PlainTextResponse:
    """A small endpoint: reads a path parameter and answers with text."""
    return PlainTextResponse(f"item {request.path_params['item_id']}")


class NoOpMiddleware:
    """Reference: the cheapest pure-ASGI middleware there is (a pass-through)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


_ECHOED: ContextVar[bytes | None] = ContextVar("bench.echoed", default=None)


class MinimalEchoMiddleware(NoOpMiddleware):
    """Reference: the least this job takes (find the header, set a ContextVar, echo it back),
    with none of the middleware's care: no validation, no duplicate rule, no check that the
    app set the header itself, no generated id."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = None
        for name, value in scope["headers"]:
            if name == b"x-conversation-id":
                raw = value
        if raw is None:
            await self.app(scope, receive, send)
            return

        def send_echoing(message: Message) -> Awaitable[None]:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (b"x-conversation-id", raw)]
            return send(message)

        token = _ECHOED.set(raw)
        try:
            await self.app(scope, receive, send_echoing)
        finally:
            _ECHOED.reset(token)


class RunOnlyMiddleware(NoOpMiddleware):
    """Reference: only the core's share of a recorded request (start, activate, end a run)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        decision = Decision("conv", None, None, "context")
        run = start_run(RunKind.HTTP, "GET /items/{item_id}", source="asgi", decision=decision)
        token = run.activate() if run is not None else None
        try:
            await self.app(scope, receive, send)
        finally:
            if run is not None and token is not None:
                RunHandle.deactivate(token)
                run.end()


def _correlation_id_reference() -> list[tuple[str, Starlette, bool]]:
    """asgi-correlation-id on the same job (request id from a header, contextvar, echo)."""
    try:
        from asgi_correlation_id import CorrelationIdMiddleware
    except ImportError:  # a benchmark-only reference: pip install asgi-correlation-id
        return []
    return [("(ref: asgi-correlation-id)", make_app(CorrelationIdMiddleware), False)]


def make_app(middleware: Any = None) -> Starlette:
    """The benchmarked app, bare or with a middleware added the usual way."""
    stack = [] if middleware is None else [Middleware(middleware)]
    return Starlette(routes=[Route("/items/{item_id}", item)], middleware=stack)


def make_scope(with_id: bool) -> dict[str, Any]:
    """An http scope like the one uvicorn builds for a typical API request."""
    headers = [
        (b"host", b"api.example.com"),
        (b"user-agent", b"python-httpx/0.28.1"),
        (b"accept", b"*/*"),
        (b"accept-encoding", b"gzip, deflate"),
        (b"connection", b"keep-alive"),
        (b"authorization", b"Bearer 0123456789abcdef"),
    ]
    if with_id:
        headers.append((b"x-conversation-id", b"conv-0190a7c2-7b1e-7a3c-9f1e-0123456789ab"))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/items/42",
        "raw_path": b"/items/42",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def run_requests(app: Any, scope: dict[str, Any], n: int) -> float:
    """Serve `n` requests; return nanoseconds per request."""
    request = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: Any) -> None:
        return None

    start = time.perf_counter_ns()
    for _ in range(n):
        await app(dict(scope), receive, send)
    return (time.perf_counter_ns() - start) / n


def measure(
    bare: Any, wrapped: Any, scope: dict[str, Any], n: int, repeats: int
) -> tuple[list[float], list[float]]:
    """ns/request of the bare and the wrapped app: short batches, interleaved, order alternating
    (this machine's noise drifts over tens of milliseconds; both apps sample it alike)."""
    loop = asyncio.new_event_loop()
    try:
        for app in (bare, wrapped):  # warm up
            loop.run_until_complete(run_requests(app, scope, n))
        samples: tuple[list[float], list[float]] = ([], [])
        for i in range(repeats):
            for which in (0, 1) if i % 2 else (1, 0):
                gc.collect()
                ns = loop.run_until_complete(run_requests((bare, wrapped)[which], scope, n))
                samples[which].append(ns)
    finally:
        loop.close()
    return samples


def main() -> None:
    """Measure every case and print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="requests per batch")
    parser.add_argument("--repeats", type=int, default=61, help="batches per app and case")
    args = parser.parse_args()
    bare = make_app()
    cases: dict[str, list[tuple[str, Starlette, bool]]] = {
        "not configured": [
            ("id sent", make_app(ConversationMiddleware), True),
            ("id generated", make_app(ConversationMiddleware), False),
            ("(ref: no-op ASGI middleware)", make_app(NoOpMiddleware), True),
            ("(ref: minimal echo middleware)", make_app(MinimalEchoMiddleware), True),
            *_correlation_id_reference(),
        ],
        "recorded": [
            ("id sent", make_app(ConversationMiddleware), True),
            ("id generated", make_app(ConversationMiddleware), False),
            ("(ref: core run only)", make_app(RunOnlyMiddleware), True),
        ],
    }
    print(f"{args.repeats} interleaved batches of {args.requests} requests per app and case")
    print(f"{'':<46}{'median per request':^30}{'best batch':^30}")
    header = f"{'bare':>10}{'middleware':>12}{'ratio':>8}"
    print(f"{'case':<46}{header}{header}  goal (median)")
    for case, rows in cases.items():
        if case == "recorded":
            convtrack.configure([NullSink()], grouping=False)
        try:
            for label, wrapped, with_id in rows:
                bare_ns, wrapped_ns = measure(
                    bare, wrapped, make_scope(with_id), args.requests, args.repeats
                )
                line = f"{case + ', ' + label:<46}"
                for pick in (statistics.median, min):
                    b, w = pick(bare_ns), pick(wrapped_ns)
                    line += f"{b / 1000:>8.2f}us{w / 1000:>10.2f}us{w / b:>7.3f}x"
                ratio = statistics.median(wrapped_ns) / statistics.median(bare_ns)
                goal = GOALS[case]
                verdict = (
                    ""
                    if label.startswith("(")
                    else f"<= {goal}x " + ("met" if ratio <= goal else "MISSED")
                )
                print(f"{line}  {verdict}")
            if case == "recorded":
                stats = convtrack.stats()
                print(f"{'':<46}runs emitted {stats['emitted']}, dropped {stats['dropped']}")
        finally:
            convtrack.shutdown()


if __name__ == "__main__":
    main()
