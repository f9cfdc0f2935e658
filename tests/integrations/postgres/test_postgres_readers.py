"""Every reader works on either store: the MCP tools and the viewer's runs API answer the
same from PostgreSQL as from SQLite holding the same runs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from convtrack_postgres import PostgresSink
from pg_support import fresh_schema
from starlette.testclient import TestClient

from convtrack import SQLiteSink
from convtrack.mcp import Reader

sys.path.insert(0, str(Path(__file__).parents[2] / "core" / "mcp"))
from mcp_support import LONG, fill


@pytest.fixture
def both(tmp_path: Path, postgres_url: str) -> Iterator[tuple[Any, Any]]:
    """The MCP tests' store as SQLite, and the same runs copied into PostgreSQL."""
    fill(tmp_path / "store.db")
    lite = SQLiteSink(tmp_path / "store.db")
    pg = PostgresSink(postgres_url, schema=fresh_schema())
    pg.export(lite.runs())
    yield lite, pg
    lite.close()
    pg.close()


def _comparable(answer: Any) -> Any:
    """An answer without its cursors (they name the same position in other words)."""
    if isinstance(answer, dict):
        return {k: _comparable(v) for k, v in answer.items() if k != "next_cursor"}
    if isinstance(answer, list):
        return [_comparable(v) for v in answer]
    return answer


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("search_runs", {"limit": 5}),
        ("search_runs", {"conversation_id": LONG, "kind": "tool"}),
        ("search_runs", {"status": "error"}),
        ("search_runs", {"text": "parcel late", "limit": 3}),
        ("search_runs", {"model": "claude-sonnet"}),
        ("search_conversations", {"limit": 4}),
        ("search_conversations", {"status": "error"}),
        ("get_conversation", {"conversation_id": LONG, "max_chars": 4096}),
        ("get_run", {"run_id": "err-1"}),
    ],
    ids=str,
)
def test_mcp_tools_answer_alike(
    both: tuple[Any, Any], tool: str, arguments: dict[str, Any]
) -> None:
    """Each MCP tool gives the same answer from either store."""
    lite, pg = (getattr(Reader(store), tool)(**arguments) for store in both)
    assert _comparable(pg) == _comparable(lite)


def test_mcp_search_runs_pages_on_postgres(both: tuple[Any, Any]) -> None:
    """search_runs pages through a PostgreSQL store without loss, cursor after cursor."""
    lite, pg = (Reader(store) for store in both)
    seen: list[str] = []
    cursor = None
    while True:
        page = pg.search_runs(limit=7, conversation_id=LONG, cursor=cursor)
        seen += [r["run_id"] for r in page["runs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = lite.search_runs(limit=100, conversation_id=LONG)["runs"]
    assert seen == [r["run_id"] for r in expected]


def test_viewer_runs_api_on_postgres(both: tuple[Any, Any]) -> None:
    """GET /api/runs and /api/runs/{id} answer from a `postgresql://` store as from SQLite."""
    from convtrack.viewer import create_app

    lite, pg = both
    answers = []
    for name in (str(lite.path), f"{pg.dsn}?schema={pg.schema}"):
        app = create_app(name)
        with TestClient(app) as client:
            listed = client.get("/api/runs", params={"kind": "tool", "limit": 3}).json()
            one = client.get("/api/runs/err-1").json()
            bad = client.get("/api/runs", params={"kind": "robot"}).status_code
        app.state.store.close()
        answers.append((_comparable(listed), one, bad))
    assert answers[1] == answers[0]
    assert answers[0][2] == 400
    assert "err-1" in str(answers[0][1])
    assert len(answers[0][0]["runs"]) == 3
