"""`POST /api/feedback`: recorded from this machine or with the token; every bad body a 4xx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from convtrack import SQLiteSink
from convtrack.viewer import create_app


@asynccontextmanager
async def viewer(
    db: Path, *, client: tuple[str, int] = ("127.0.0.1", 5000), token: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(db, feedback_token=token)
    transport = httpx.ASGITransport(app=app, client=client)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            yield http
    finally:
        app.state.store.close()


def _first_conversation(db: Path) -> str:
    sink = SQLiteSink(db, create=False)
    try:
        return sink.conversations(1)[0].conversation_id
    finally:
        sink.close()


async def test_feedback_is_recorded_and_shown(demo_db: Path) -> None:
    """A loopback client's feedback is stored and shows in the conversation and the list."""
    conversation_id = _first_conversation(demo_db)
    body = {"conversation_id": conversation_id, "key": "thumbs", "score": 1, "comment": "good"}
    async with viewer(demo_db) as http:
        answer = await http.post("/api/feedback", json=body)
        assert answer.status_code == 201, answer.text
        assert answer.json()["conversation_id"] == conversation_id
        shown = (await http.get(f"/api/conversations/{conversation_id}")).json()
    assert [(f["key"], f["score"], f["comment"]) for f in shown["feedback"]] == [
        ("thumbs", 1.0, "good")
    ]
    sink = SQLiteSink(demo_db, create=False)
    try:
        [stored] = sink.feedback(conversation_id)
    finally:
        sink.close()
    assert stored.feedback_id == answer.json()["feedback_id"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"[1, 2]", 400),
        (b'{"key": "thumbs"}', 400),  # neither a conversation nor a run
        (b'{"conversation_id": "c", "key": ""}', 400),
        (b'{"conversation_id": "c", "key": "   "}', 400),
        (b'{"conversation_id": "c", "key": "k", "score": true}', 400),
        (b'{"conversation_id": "c", "key": "k", "score": "high"}', 400),
        (b'{"conversation_id": "c", "key": 7}', 400),
        (b'{"conversation_id": "", "key": "k"}', 400),
        (b'{"conversation_id": "c", "key": "k", "comment": 3}', 400),
        (b'{"conversation_id": "c", "key": "k", "extra": 1}', 400),
        (b'{"conversation_id": "c", "key": "' + b"k" * 201 + b'"}', 400),
    ],
)
async def test_bad_bodies_are_refused_with_a_reason(
    demo_db: Path, body: bytes, status: int
) -> None:
    """Whatever the body, a clear 4xx naming the problem: never a 500, nothing stored."""
    async with viewer(demo_db) as http:
        answer = await http.post(
            "/api/feedback", content=body, headers={"content-type": "application/json"}
        )
    assert answer.status_code == status, answer.text
    assert answer.json()["error"].startswith(("feedback", "conversation_id"))


async def test_json_only_and_bounded(demo_db: Path) -> None:
    """A form post (what another site could send) is 415; a huge body is 413."""
    async with viewer(demo_db) as http:
        form = await http.post("/api/feedback", data={"key": "thumbs", "conversation_id": "c"})
        huge = await http.post(
            "/api/feedback",
            json={"conversation_id": "c", "key": "k", "comment": "x" * 70_000},
        )
    assert (form.status_code, huge.status_code) == (415, 413)


async def test_only_this_machine_without_a_token(demo_db: Path) -> None:
    """Without a token, a client that is not on loopback is refused."""
    body: dict[str, Any] = {"conversation_id": "c", "key": "thumbs"}
    async with viewer(demo_db, client=("203.0.113.9", 5000)) as http:
        answer = await http.post("/api/feedback", json=body)
    assert answer.status_code == 403


async def test_with_a_token_the_token_is_needed_from_anywhere(demo_db: Path) -> None:
    """With --feedback-token, only requests carrying it are taken (loopback ones too)."""
    body: dict[str, Any] = {"conversation_id": "c", "key": "thumbs"}
    async with viewer(demo_db, client=("203.0.113.9", 5000), token="s3cret") as http:
        missing = await http.post("/api/feedback", json=body)
        wrong = await http.post(
            "/api/feedback", json=body, headers={"authorization": "Bearer nope"}
        )
        right = await http.post(
            "/api/feedback", json=body, headers={"authorization": "Bearer s3cret"}
        )
    async with viewer(demo_db, token="s3cret") as http:
        local = await http.post("/api/feedback", json=body)
    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 201)
    assert local.status_code == 401
