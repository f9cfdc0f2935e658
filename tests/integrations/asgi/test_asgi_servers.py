"""ConversationMiddleware through Starlette's TestClient (http, websocket) and a real uvicorn."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from asgi_support import ID_HEADER
from convtrack_asgi import ConversationMiddleware
from fastapi import FastAPI, WebSocket
from starlette.applications import Starlette
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.types import Message, Receive, Scope, Send
from websockets.sync.client import connect

import convtrack
from convtrack.testing import CapturedRuns

AppFactory = Callable[..., Starlette]


def test_test_client_request_is_honoured_and_echoed(make_app: AppFactory) -> None:
    """Through the TestClient (the app on another thread) the id is used and echoed."""
    with TestClient(make_app()) as test_client:
        response = test_client.get("/whoami", headers={ID_HEADER: "conv-tc"})
    assert response.json()["conversation_id"] == "conv-tc"
    assert response.headers[ID_HEADER] == "conv-tc"


def test_websocket_takes_the_id_from_the_query_parameter(
    make_app: AppFactory, captured: CapturedRuns
) -> None:
    """A browser websocket passes the id in the query; the accept carries it; one run recorded."""
    app = make_app(query_param="conversation_id")
    with (
        TestClient(app) as test_client,
        test_client.websocket_connect("/ws?conversation_id=conv-ws") as ws,
    ):
        payload = ws.receive_json()
        accept_headers = ws.extra_headers
    assert payload["conversation_id"] == "conv-ws"
    assert payload["answer"] == "echo: ws (conv-ws)"
    assert (b"x-conversation-id", b"conv-ws") in [tuple(h) for h in accept_headers or []]
    step, connection = captured.runs
    assert (connection.kind, connection.name) == ("http", "WEBSOCKET /ws")
    assert connection.conversation_id == "conv-ws"
    assert step.parent_run_id == connection.run_id
    assert dict(connection.metadata) == {
        "websocket": True,
        "path": "/ws",
        "route": "/ws",
        "close_code": 1000,
        "status": 101,
    }


def test_websocket_header_and_generated_ids(make_app: AppFactory) -> None:
    """A websocket client that can set headers may use the header; otherwise an id is made."""
    with TestClient(make_app()) as test_client:
        with test_client.websocket_connect("/ws", headers={ID_HEADER: "conv-h"}) as ws:
            from_header = ws.receive_json()["conversation_id"]
        with test_client.websocket_connect("/ws") as ws:
            generated = ws.receive_json()["conversation_id"]
    assert from_header == "conv-h"
    assert uuid.UUID(generated).version == 7


def test_websocket_with_an_invalid_id_is_denied_with_400(make_app: AppFactory) -> None:
    """In reject mode, a server offering the denial-response extension answers 400 JSON."""
    app = make_app(query_param="conversation_id", on_invalid="reject")
    with (
        TestClient(app) as test_client,
        pytest.raises(WebSocketDenialResponse) as denied,
        test_client.websocket_connect("/ws?conversation_id=bad%0Aid"),
    ):
        pytest.fail("the websocket must not be accepted")
    assert denied.value.status_code == 400
    assert denied.value.json()["error"] == "invalid_conversation_id"


async def test_websocket_rejection_without_the_extension_closes_with_1008() -> None:
    """Without the denial-response extension, the handshake is closed (1008) before accept."""
    sent: list[Message] = []
    called: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(True)

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "path": "/ws",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"x-conversation-id", b"bad id")],
    }
    await ConversationMiddleware(app, on_invalid="reject")(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "invalid id"}]
    assert called == []


def _app_for_uvicorn() -> FastAPI:
    app = FastAPI()
    app.add_middleware(ConversationMiddleware, query_param="conversation_id")

    @app.get("/chat/{room}")
    async def chat(room: str) -> dict[str, Any]:
        return {"room": room, "conversation_id": convtrack.get_conversation_id()}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(convtrack.get_conversation_id() or "")
        await websocket.close()

    return app


@pytest.fixture
def uvicorn_server() -> Iterator[str]:
    """A real uvicorn server on a free 127.0.0.1 port, in a thread; yields its host:port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    config = uvicorn.Config(
        _app_for_uvicorn(),
        log_level="warning",
        lifespan="on",
        ws="websockets-sansio",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield f"{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_through_a_real_uvicorn_server(uvicorn_server: str, captured: CapturedRuns) -> None:
    """Over real sockets: the id is honoured and echoed, latin-1 junk replaced, websockets work."""
    with httpx.Client(base_url=f"http://{uvicorn_server}") as http:
        honoured = http.get("/chat/lobby", headers={ID_HEADER: "conv-uv"})
    assert honoured.json() == {"room": "lobby", "conversation_id": "conv-uv"}
    assert honoured.headers[ID_HEADER] == "conv-uv"

    host, port = uvicorn_server.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(
            b"GET /chat/lobby HTTP/1.1\r\nhost: x\r\nx-conversation-id: caf\xe9\r\n"
            b"connection: close\r\n\r\n"
        )
        reply = b""
        while chunk := raw.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    replaced = json.loads(body)["conversation_id"]
    assert uuid.UUID(replaced).version == 7
    assert b"x-conversation-id: " + replaced.encode() in head
    assert b"\xe9" not in reply

    with connect(f"ws://{uvicorn_server}/ws?conversation_id=conv-ws-uv") as ws:
        assert ws.recv(timeout=10) == "conv-ws-uv"
        assert ws.response is not None
        assert ws.response.headers[ID_HEADER] == "conv-ws-uv"

    names = sorted(run.name for run in captured.runs)
    assert names == ["GET /chat/{room}", "GET /chat/{room}", "WEBSOCKET /ws"]
