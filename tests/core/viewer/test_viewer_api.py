"""The viewer's JSON API over a store filled by the demo, through httpx.ASGITransport."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from viewer_support import chat_run, demo_conversation, demo_ids, export, make_run

from convtrack import RunKind, SQLiteSink
from convtrack.sinks import DatabaseError
from convtrack.viewer import create_app

UTC = timezone.utc


async def test_list_is_the_demo_newest_first(client: httpx.AsyncClient, demo_db: Path) -> None:
    """GET /api/conversations lists the demo's conversations as the store orders them."""
    response = await client.get("/api/conversations")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["db"] == "demo.db"
    assert [c["conversation_id"] for c in body["conversations"]] == demo_ids(demo_db)
    first = next(c for c in body["conversations"] if c["user_id"] == "user-bob")
    assert set(first) == {
        "conversation_id",
        "user_id",
        "agent_id",
        "first_at",
        "last_at",
        "run_count",
        "llm_count",
        "inferred",
        "input_tokens",
        "output_tokens",
        "cost",
        "error_count",
        "first_input",
        "last_output",
        "tools",
        "metadata",
        "ended_at",
        "feedback_count",
    }
    assert first["run_count"] > first["llm_count"] >= 2
    assert first["input_tokens"] > 0
    assert first["first_input"]
    assert first["inferred"] is False
    last_ats = [c["last_at"] for c in body["conversations"]]
    assert last_ats == sorted(last_ats, reverse=True)


async def test_filters_by_user_agent_text_and_limit(
    client: httpx.AsyncClient, demo_db: Path
) -> None:
    """user_id, agent_id, q and limit narrow the list; empty values are ignored."""
    bob = (await client.get("/api/conversations", params={"user_id": "user-bob"})).json()
    assert {c["user_id"] for c in bob["conversations"]} == {"user-bob"}
    assert len(bob["conversations"]) == 1
    everyone = await client.get("/api/conversations", params={"user_id": "", "q": ""})
    assert len(everyone.json()["conversations"]) == len(demo_ids(demo_db))
    target = demo_ids(demo_db)[2]
    found = await client.get("/api/conversations", params={"q": target[-10:]})
    assert [c["conversation_id"] for c in found.json()["conversations"]] == [target]
    two = await client.get("/api/conversations", params={"limit": "2"})
    assert len(two.json()["conversations"]) == 2
    assert two.json()["limit"] == 2
    export(demo_db, make_run("conv-agent", agent_id="agent-x"))
    by_agent = await client.get("/api/conversations", params={"agent_id": "agent-x"})
    assert [c["conversation_id"] for c in by_agent.json()["conversations"]] == ["conv-agent"]


async def test_since_takes_iso_times_and_spans(client: httpx.AsyncClient, demo_db: Path) -> None:
    """since accepts ISO 8601 (with Z, offsets or naive UTC) and spans such as 15m or 7d."""
    demo_count = len(demo_ids(demo_db))
    old = datetime(2001, 1, 1, tzinfo=UTC)
    export(demo_db, make_run("conv-old", started_at=old))
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (await client.get(f"/api/conversations?since={future}")).json()["conversations"] == []
    recent = (await client.get("/api/conversations", params={"since": "1h"})).json()
    assert "conv-old" not in [c["conversation_id"] for c in recent["conversations"]]
    assert len(recent["conversations"]) == demo_count
    for since in ("2000-12-31", "2000-12-31T23:00:00", "2000-12-31T23:00:00+00:00"):
        everything = (await client.get("/api/conversations", params={"since": since})).json()
        assert "conv-old" in [c["conversation_id"] for c in everything["conversations"]]


@pytest.mark.parametrize(
    ("params", "word"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": "12x"}, "since"),
        ({"since": "999999999w"}, "since"),
        ({"limit": "0"}, "limit"),
        ({"limit": "-3"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "100000"}, "limit"),
    ],
)
async def test_bad_parameters_are_400_json(
    client: httpx.AsyncClient, params: dict[str, str], word: str
) -> None:
    """A since or limit the API cannot use is a 400 whose JSON error names the parameter."""
    response = await client.get("/api/conversations", params=params)
    assert response.status_code == 400
    assert response.json()["error"].startswith(word + ":")


async def test_one_conversation_is_a_tree_in_start_order(
    client: httpx.AsyncClient, demo_db: Path
) -> None:
    """GET /api/conversations/{id}: top-level runs in order, each with its children."""
    target = demo_conversation(demo_db, "user-alice")
    response = await client.get(f"/api/conversations/{target}")
    assert response.status_code == 200
    body = response.json()
    assert body["conversation_id"] == target
    roots = body["runs"]
    assert [r["name"] for r in roots] == ["support-turn"] * 3 + ["summarise-conversation"]
    starts = [r["started_at"] for r in roots]
    assert starts == sorted(starts)
    first = roots[0]
    assert [c["name"] for c in first["children"]] == [
        "retrieve",
        "lookup_order",
        "chat.completions",
    ]
    llm = first["children"][2]
    assert llm["kind"] == "llm"
    assert llm["model"] == "demo-model-1"
    assert llm["tokens"]["total"] == llm["tokens"]["input"] + llm["tokens"]["output"] > 0
    assert llm["duration_ms"] >= 0
    assert all(c["parent_run_id"] == first["run_id"] for c in first["children"])
    summary = body["summary"]
    assert (summary["run_count"], summary["llm_count"], summary["user_id"]) == (
        11,
        3,
        "user-alice",
    )


async def test_transcript_turns_hold_only_the_new_messages(
    client: httpx.AsyncClient, demo_db: Path
) -> None:
    """Each turn shows the new user message and the answer, not the resent history."""
    target = demo_conversation(demo_db, "user-alice")
    body = (await client.get(f"/api/conversations/{target}")).json()
    turns = body["turns"]
    assert [t["root_run_id"] for t in turns] == [r["run_id"] for r in body["runs"][:3]]
    said = [[(m["role"], m["text"][:20]) for m in t["messages"]] for t in turns]
    assert said[0] == [("user", "Hi, my order #12345 "), ("assistant", "Order #12345 shipped")]
    assert [role for role, _ in said[1]] == ["user", "assistant"]
    assert said[1][0][1] == "I never got a tracki"
    assert said[2][0][1] == "Thanks!"


async def test_unknown_conversation_is_404_json(client: httpx.AsyncClient) -> None:
    """An id the store does not know is a 404 with a JSON error, as is an unknown API path."""
    response = await client.get("/api/conversations/nope")
    assert response.status_code == 404
    assert "nope" in response.json()["error"]
    missing = await client.get("/api/nothing-here")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not found"}
    assert (await client.get("/nothing-here")).status_code == 404


@pytest.mark.parametrize(
    "conversation_id",
    ["tenant/a/conv 1", "a?b=c&d#e", "100% sure", "/leading", "trailing/", "ünï 💬", "x%2Fy"],
)
async def test_ids_with_reserved_characters(
    client: httpx.AsyncClient, demo_db: Path, conversation_id: str
) -> None:
    """Ids with /, ?, #, %, spaces or non-ASCII round-trip when percent-encoded."""
    export(demo_db, chat_run(conversation_id, [{"role": "user", "content": "hi"}], "hello"))
    response = await client.get("/api/conversations/" + quote(conversation_id, safe=""))
    assert response.status_code == 200
    assert response.json()["conversation_id"] == conversation_id
    listed = await client.get("/api/conversations", params={"q": conversation_id})
    assert [c["conversation_id"] for c in listed.json()["conversations"]] == [conversation_id]
    page = await client.get("/c/" + quote(conversation_id, safe=""))
    assert page.status_code == 200


async def test_etag_answers_304_until_the_store_changes(
    client: httpx.AsyncClient, demo_db: Path
) -> None:
    """A poll with the last ETag gets a bodiless 304; a new run makes a new answer."""
    target = demo_ids(demo_db)[1]
    url = f"/api/conversations/{target}"
    first = await client.get(url)
    etag = first.headers["etag"]
    again = await client.get(url, headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    listing = await client.get("/api/conversations")
    list_etag = listing.headers["etag"]
    new_run = chat_run(target, [{"role": "user", "content": "one more thing"}], "sure")
    export(demo_db, new_run)
    changed = await client.get(url, headers={"if-none-match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json()["runs"][-1]["run_id"] == new_run.run_id
    relisted = await client.get("/api/conversations", headers={"if-none-match": list_etag})
    assert relisted.status_code == 200
    assert relisted.json()["conversations"][0]["conversation_id"] == target


async def test_a_run_of_a_new_conversation_is_listed_at_once(
    client: httpx.AsyncClient, demo_db: Path
) -> None:
    """An unknown conversation's 404 is not kept once its first run is stored."""
    assert (await client.get("/api/conversations/conv-later")).status_code == 404
    export(demo_db, chat_run("conv-later", [{"role": "user", "content": "hi"}], "hey"))
    assert (await client.get("/api/conversations/conv-later")).status_code == 200


def test_missing_or_foreign_database_is_refused(tmp_path: Path) -> None:
    """create_app raises DatabaseError for a missing file or one that is not a convtrack store."""
    with pytest.raises(DatabaseError, match="no convtrack database"):
        create_app(tmp_path / "missing.db")
    foreign = tmp_path / "foreign.db"
    foreign.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(DatabaseError, match="not a convtrack database"):
        create_app(foreign)


async def test_the_store_is_never_written(demo_db: Path) -> None:
    """Serving requests leaves the store's runs as they were."""
    before = SQLiteSink(demo_db, create=False)
    count = before.count()
    before.close()
    app = create_app(demo_db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for target in demo_ids(demo_db):
            assert (await http.get(f"/api/conversations/{target}")).status_code == 200
    app.state.store.close()
    app.state.store.close()  # closing twice is harmless
    after = SQLiteSink(demo_db, create=False)
    assert after.count() == count
    after.close()


async def test_error_runs_and_other_kinds_are_reported(
    client: httpx.AsyncClient, demo_db: Path
) -> None:
    """A failed run keeps its error and status; the summary counts errors."""
    root = make_run("conv-err", kind=RunKind.HTTP, name="POST /chat")
    failed = chat_run(
        "conv-err",
        [{"role": "user", "content": "hi"}],
        None,
        parent=root,
        status="error",
        error="RateLimitError: slow down",
    )
    export(demo_db, root, failed)
    body = (await client.get("/api/conversations/conv-err")).json()
    assert body["summary"]["error_count"] == 1
    child = body["runs"][0]["children"][0]
    assert (child["status"], child["error"]) == ("error", "RateLimitError: slow down")
    assert body["turns"][0]["messages"][-1] == {
        "run_id": failed.run_id,
        "role": "error",
        "text": "RateLimitError: slow down",
    }
