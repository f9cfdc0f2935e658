"""A FastAPI chat endpoint whose requests convtrack groups into conversations (runs offline).

Each request runs inside the conversation named by its ``x-conversation-id`` header (a new
uuid7 when there is none, sent back in the same header), the user comes from ``x-user-id``,
and the handler's traced step is recorded as a child of the request's ``http`` run.

Run it as a script to drive the app in-process (no network, no model) and print the
conversations recorded in a temporary SQLite database::

    python examples/fastapi_chat.py

Or serve it (then ``POST /chat`` with JSON ``{"message": "hi"}``)::

    uvicorn examples.fastapi_chat:app
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import httpx
from convtrack_asgi import ConversationMiddleware
from fastapi import FastAPI
from pydantic import BaseModel

import convtrack

app = FastAPI(title="convtrack chat example")
app.add_middleware(ConversationMiddleware, user_header_name="x-user-id")

_HISTORY: dict[str, list[str]] = {}  # conversation id -> messages (a real app has a store)


class ChatRequest(BaseModel):
    """What the client sends."""

    message: str


class ChatReply(BaseModel):
    """What the server answers."""

    conversation_id: str | None
    reply: str


@convtrack.trace(kind="chain")
def generate_reply(message: str, turn: int) -> str:
    """Stands in for the LLM call: a canned answer that knows the turn number."""
    return f"(turn {turn}) you said: {message!r}"


@app.post("/chat")
async def chat(request: ChatRequest) -> ChatReply:
    """Answer one chat message inside the request's conversation."""
    conversation_id = convtrack.get_conversation_id()
    history = _HISTORY.setdefault(conversation_id or "", [])
    reply = generate_reply(request.message, len(history) // 2 + 1)
    history += [request.message, reply]
    return ChatReply(conversation_id=conversation_id, reply=reply)


async def talk(client: httpx.AsyncClient) -> None:
    """Two users chat: Alice lets the server choose her id, Bob brings his own."""
    first = await client.post(
        "/chat", json={"message": "hello"}, headers={"x-user-id": "user-alice"}
    )
    alice = first.headers["x-conversation-id"]  # the id the server made, echoed back
    print(f"alice <- {first.json()['reply']}   (conversation {alice})")
    second = await client.post(
        "/chat",
        json={"message": "what did I just say?"},
        headers={"x-conversation-id": alice, "x-user-id": "user-alice"},
    )
    print(f"alice <- {second.json()['reply']}")
    bob = await client.post(
        "/chat",
        json={"message": "hi, I am Bob"},
        headers={"x-conversation-id": "bob-session-1", "x-user-id": "user-bob"},
    )
    print(f"bob   <- {bob.json()['reply']}")
    bad = await client.post(
        "/chat", json={"message": "sneaky"}, headers={"x-conversation-id": "not a valid id!"}
    )
    print(f"anon  <- invalid id replaced by {bad.headers['x-conversation-id']}")


async def main(db_path: Path) -> None:
    """Record the chat into `db_path`, then print it conversation by conversation."""
    sink = convtrack.SQLiteSink(db_path)
    convtrack.configure([sink])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://chat.local") as client:
        await talk(client)
    convtrack.flush()
    print(f"\nconversations recorded in {db_path.name}:")
    for summary in sink.conversations():
        print(f"- {summary.conversation_id}  user={summary.user_id}  runs={summary.run_count}")
        for run in sink.runs(summary.conversation_id):
            indent = "    " if run.parent_run_id else "  "
            print(f"{indent}{run.kind:<8} {run.name:<16} {run.status}")
    convtrack.shutdown()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(Path(tmp) / "chat.db"))
