"""The list API's store filters (metadata, text, status, until, cursor) and hostile values."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from viewer_support import chat_run, export

from convtrack import SQLiteSink
from convtrack.viewer import create_app

HOSTILE = [
    "'", '"', "' OR 1=1 --", '"; DROP TABLE runs; --', "%", "_", "a.b", "*", "NEAR(x y)",
    "(", "((x", ")", "^x", "body:x", "\x00", "\\", "\u202e", "x" * 1000, "=", "==", "k=",
]  # fmt: skip


@pytest.fixture
def store_db(tmp_path: Path) -> Path:
    """A store of five conversations with metadata, one with an error."""
    db = tmp_path / "f.db"
    for n in range(5):
        export(
            db,
            chat_run(
                f"conv-{n}",
                [{"role": "user", "content": f"question about parcel {n}"}],
                "a refund is on its way" if n == 3 else "fine",
                metadata={"customer_id": f"cust-{n % 2}", "odd.key'\"": "100%_"},
                status="error" if n == 4 else "ok",
                user_id="user-test",
            ),
        )
    return db


@pytest.fixture
async def http(store_db: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the viewer over `store_db`."""
    app = create_app(store_db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    app.state.store.close()


async def listed(http: httpx.AsyncClient, params: object) -> list[str]:
    """The conversation ids the list API answers with."""
    response = await http.get("/api/conversations", params=params)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    return [c["conversation_id"] for c in response.json()["conversations"]]


async def test_store_filters_through_the_api(http: httpx.AsyncClient) -> None:
    """metadata=key=value (repeatable), text, status and until filter as the store does."""
    assert await listed(http, {"metadata": "customer_id=cust-1"}) == ["conv-3", "conv-1"]
    assert await listed(
        http, [("metadata", "customer_id=cust-0"), ("metadata", "odd.key'\"=100%_")]
    ) == ["conv-4", "conv-2", "conv-0"]
    assert await listed(http, {"text": "refund"}) == ["conv-3"]
    assert await listed(http, {"status": "error"}) == ["conv-4"]
    assert await listed(http, {"status": "ok", "text": "parcel 4"}) == []
    assert await listed(http, {"until": "2000-01-01"}) == []


async def test_cursor_pages_through_the_api(http: httpx.AsyncClient) -> None:
    """A full page carries `next_cursor`; following it lists each conversation once."""
    seen: list[str] = []
    params: dict[str, str] = {"limit": "2"}
    while True:
        body = (await http.get("/api/conversations", params=params)).json()
        seen.extend(c["conversation_id"] for c in body["conversations"])
        if body["next_cursor"] is None:
            break
        params["before"] = body["next_cursor"]
    assert seen == [f"conv-{n}" for n in range(4, -1, -1)]


async def test_totals_in_the_list(http: httpx.AsyncClient, store_db: Path) -> None:
    """Each listed conversation carries its tokens, cost, errors, previews, tools, metadata."""
    body = (await http.get("/api/conversations", params={"limit": "1"})).json()
    (first,) = body["conversations"]
    assert first["error_count"] == 1
    assert first["first_input"] == "question about parcel 4"
    assert first["last_output"] == "fine"
    assert first["metadata"] == {"customer_id": "cust-0", "odd.key'\"": "100%_"}


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    "name",
    ["user_id", "agent_id", "q", "text", "metadata", "status", "before", "since", "until", "limit"],
)
async def test_hostile_values_are_400_or_literal(
    http: httpx.AsyncClient, store_db: Path, name: str, value: str
) -> None:
    """Any string in any filter is a 400 naming the filter, or a literal match: never a 500,
    never a change to the store."""
    response = await http.get("/api/conversations", params={name: value})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        shown = "metadata" if name == "metadata" else name
        assert response.json()["error"].startswith((shown + ":", "metadata:")), response.text
    else:
        found = {c["conversation_id"] for c in response.json()["conversations"]}
        assert found <= {f"conv-{n}" for n in range(5)}
    sink = SQLiteSink(store_db, create=False)
    assert sink.count() == 5
    sink.close()


@pytest.mark.parametrize(
    ("params", "word"),
    [
        ({"status": "broken"}, "status"),
        ({"metadata": "no-equals-sign"}, "metadata"),
        ({"metadata": "=value"}, "metadata"),
        ({"before": "made-up"}, "before"),
        ({"text": "x" * 1001}, "text"),
        ({"until": "tomorrow-ish"}, "until"),
        ({"user": "bob"}, "'user'"),
    ],
)
async def test_bad_filters_are_400_json(
    http: httpx.AsyncClient, params: dict[str, str], word: str
) -> None:
    """A filter the store cannot use is a 400 whose JSON error names it."""
    response = await http.get("/api/conversations", params=params)
    assert response.status_code == 400
    assert response.json()["error"].startswith(word + ":")
