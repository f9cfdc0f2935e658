"""The demo's web part: a small ASGI chat app behind ConversationMiddleware, driven in-process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from convtrack import get_conversation_id, get_user_id, trace

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@trace(kind="llm")
def _reply(text: str) -> str:
    return f"echo from {get_conversation_id()}: {text}"


async def chat_app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    """A pure-ASGI chat endpoint: answers the posted text inside the request's conversation."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = _reply(body.decode("utf-8", "replace"))
    payload = json.dumps({"answer": answer, "user": get_user_id()}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": payload})


async def _post(app: Any, text: str, headers: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """One in-process POST /chat; returns the response headers."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/chat",
        "raw_path": b"/chat",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": text.encode(), "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return dict(sent[0]["headers"])


async def _browse() -> list[str]:
    from convtrack_asgi import ConversationMiddleware

    app = ConversationMiddleware(chat_app, user_header_name="x-user-id")
    ids = []
    for user in ("user-hana", "user-ivan"):
        # the first request carries no id: the middleware makes one and echoes it back
        headers = await _post(app, "hello", [(b"x-user-id", user.encode())])
        conversation_id = headers[b"x-conversation-id"]
        for text in ("what's new?", "thanks"):
            await _post(
                app, text, [(b"x-user-id", user.encode()), (b"x-conversation-id", conversation_id)]
            )
        ids.append(conversation_id.decode())
    return ids


def run_asgi_part() -> list[str]:
    """Drive the web chat (if convtrack-asgi is installed); return the conversation ids made."""
    try:
        import convtrack_asgi  # noqa: F401
    except ImportError:
        return []
    return asyncio.run(_browse())
