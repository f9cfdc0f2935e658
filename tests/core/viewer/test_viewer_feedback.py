"""The viewer's API with feedback and ended conversations: filters, state, feedback shown."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from viewer_support import chat_run, export

from convtrack import ConversationEnd, Feedback, SQLiteSink

NOW = datetime.now(timezone.utc)


def events(db: Path, *given: Feedback | ConversationEnd) -> None:
    """Write events to the store as an application's SQLiteSink would (another connection)."""
    sink = SQLiteSink(db)
    try:
        sink.export_events(given)
    finally:
        sink.close()


def feedback(fid: str, cid: str, key: str = "thumbs", **fields: object) -> Feedback:
    values: dict[str, object] = {
        "feedback_id": fid,
        "conversation_id": cid,
        "run_id": None,
        "key": key,
        "score": None,
        "value": None,
        "comment": None,
        "user_id": None,
        "created_at": NOW,
    }
    values.update(fields)
    return Feedback(**values)  # type: ignore[arg-type]


@pytest.fixture
def judged(demo_db: Path) -> str:
    """conv-judged: one run, thumbs on it and a label on its run, ended; its run's id."""
    run = chat_run("conv-judged", [{"role": "user", "content": "hi"}], "hello")
    export(demo_db, run)
    events(
        demo_db,
        feedback("f1", "conv-judged", score=1.0, comment="<b>great</b>"),
        feedback("f2", "conv-judged", "label", run_id=run.run_id, value={"topic": "greeting"}),
        ConversationEnd("conv-judged", NOW),
    )
    return run.run_id


async def test_list_filters_by_feedback_and_ended(client: httpx.AsyncClient, judged: str) -> None:
    """feedback=KEY and ended=true/false narrow the list; each row says ended_at and counts."""

    async def ids(**params: str) -> list[str]:
        body = (await client.get("/api/conversations", params=params)).json()
        return [c["conversation_id"] for c in body["conversations"]]

    assert await ids(feedback="thumbs") == ["conv-judged"]
    assert await ids(feedback="label") == ["conv-judged"]
    assert await ids(feedback="none-such") == []
    assert await ids(ended="true") == ["conv-judged"]
    opened = await ids(ended="false")
    assert "conv-judged" not in opened
    assert opened  # the demo's conversations are recent, so open
    body = (await client.get("/api/conversations", params={"ended": "TRUE"})).json()
    [row] = body["conversations"]
    assert row["ended_at"] == NOW.isoformat()
    assert row["feedback_count"] == 2


async def test_the_conversation_answer_has_its_feedback_and_end(
    client: httpx.AsyncClient, judged: str
) -> None:
    """GET /api/conversations/{id} carries its feedback (key, score, value, comment, run), end."""
    body = (await client.get(f"/api/conversations/{quote('conv-judged')}")).json()
    assert body["summary"]["ended_at"] == NOW.isoformat()
    assert body["summary"]["feedback_count"] == 2
    assert [
        (f["key"], f["score"], f["value"], f["comment"], f["run_id"]) for f in body["feedback"]
    ] == [
        ("thumbs", 1.0, None, "<b>great</b>", None),
        ("label", None, {"topic": "greeting"}, None, judged),
    ]


async def test_an_open_conversation_has_no_end_and_no_feedback(
    client: httpx.AsyncClient, demo_db: Path
) -> None:
    """A recent conversation without feedback: ended_at null, feedback empty."""
    export(demo_db, chat_run("conv-open", [{"role": "user", "content": "hi"}], "hello"))
    body = (await client.get("/api/conversations/conv-open")).json()
    assert body["summary"]["ended_at"] is None
    assert body["feedback"] == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"ended": "yes"}, "ended: 'yes' is not true or false"),
        ({"ended": "1"}, "not true or false"),
        ({"feedback": "k" * 201}, "feedback: longer than 200"),
    ],
)
async def test_bad_values_are_400(
    client: httpx.AsyncClient, params: dict[str, str], message: str
) -> None:
    """An ended value that is not true/false, or a feedback key too long: 400 with the reason."""
    response = await client.get("/api/conversations", params=params)
    assert response.status_code == 400
    assert message in response.json()["error"]


@pytest.mark.parametrize(
    "value", ["'", "' OR 1=1 --", '"; DROP TABLE feedback; --', "%", "_", "\u202e", "   "]
)
async def test_hostile_feedback_keys_match_literally(
    client: httpx.AsyncClient, judged: str, value: str
) -> None:
    """Any feedback key is matched as written: 200 and no match, never an SQL error."""
    response = await client.get("/api/conversations", params={"feedback": value})
    assert response.status_code == 200
    assert response.json()["conversations"] == []
    again = await client.get("/api/conversations", params={"feedback": "thumbs"})
    assert [c["conversation_id"] for c in again.json()["conversations"]] == ["conv-judged"]
