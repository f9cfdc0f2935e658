"""Helpers for the ASGI middleware tests: small Starlette/FastAPI apps and a raw ASGI driver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from convtrack_asgi import ConversationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket

import convtrack

ID_HEADER = "x-conversation-id"


def seen() -> dict[str, str | None]:
    """What a handler sees of the current conversation."""
    return {"conversation_id": convtrack.get_conversation_id(), "user_id": convtrack.get_user_id()}


@convtrack.trace()
def answer(question: str) -> str:
    """A traced step called by the handlers."""
    return f"echo: {question} ({convtrack.get_conversation_id()})"


async def whoami(request: Request) -> Response:
    """Report the conversation seen inside the handler."""
    await asyncio.sleep(0)
    return JSONResponse({**seen(), "answer": answer("hi")})


async def item(request: Request) -> Response:
    """A route with a path parameter."""
    return JSONResponse({"item": request.path_params["item_id"], **seen()})


async def stream(request: Request) -> Response:
    """A streamed body whose chunks are produced inside the conversation."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            await asyncio.sleep(0)
            yield f"{convtrack.get_conversation_id()}\n".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


async def boom(request: Request) -> Response:
    """A handler that fails."""
    raise RuntimeError("handler failed")


async def preset(request: Request) -> Response:
    """A handler that sets the conversation header itself."""
    return PlainTextResponse("ok", headers={"X-Conversation-Id": "set-by-app"})


async def unavailable(request: Request) -> Response:
    """A handler answering 503 without raising."""
    return PlainTextResponse("later", status_code=503)


async def ws_endpoint(websocket: WebSocket) -> None:
    """Accept, report the conversation, close."""
    await websocket.accept()
    await websocket.send_json({**seen(), "answer": answer("ws")})
    await websocket.close()


ROUTES = [
    Route("/whoami", whoami),
    Route("/items/{item_id}", item),
    Route("/stream", stream),
    Route("/boom", boom),
    Route("/preset", preset),
    Route("/unavailable", unavailable),
    WebSocketRoute("/ws", ws_endpoint),
]


def client(app: Any, **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client calling `app` in-process."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, **kwargs), base_url="http://testserver"
    )


@dataclass
class Exchange:
    """One request driven through raw ASGI: what the app saw and what went back."""

    called: bool = False
    conversation_id: str | None = None
    user_id: str | None = None
    messages: list[Message] = field(default_factory=list)

    @property
    def status(self) -> int:
        """The response status."""
        return int(self.messages[0]["status"])

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """The response headers, raw."""
        return [(bytes(k), bytes(v)) for k, v in self.messages[0].get("headers", [])]

    def header_values(self, name: bytes) -> list[bytes]:
        """Every value of one response header."""
        return [value for key, value in self.headers if key.lower() == name]

    @property
    def body(self) -> bytes:
        """The response body."""
        return b"".join(m.get("body", b"") for m in self.messages[1:])


async def plain_app(scope: Scope, receive: Receive, send: Send) -> None:
    """A raw ASGI app answering 200 (used to drive the middleware without a framework)."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-app", b"1")]})
    await send({"type": "http.response.body", "body": b"ok"})


def http_scope(
    headers: list[tuple[bytes, bytes]] | None = None, query: bytes = b""
) -> dict[str, Any]:
    """A minimal http scope as a server would build it."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": query,
        "headers": headers or [],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
    }


async def drive(
    headers: list[tuple[bytes, bytes]] | None = None, *, query: bytes = b"", **options: Any
) -> Exchange:
    """Send one http request with raw `headers` through the middleware around a plain app."""
    exchange = Exchange()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        exchange.called = True
        exchange.conversation_id = convtrack.get_conversation_id()
        exchange.user_id = convtrack.get_user_id()
        await plain_app(scope, receive, send)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        exchange.messages.append(message)

    await ConversationMiddleware(app, **options)(http_scope(headers, query), receive, send)
    return exchange
