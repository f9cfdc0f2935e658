"""The MCP tools' answers in-process: budgets held whatever the text, pages joined whole."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp_support import LONG, fill, run

from convtrack import SQLiteSink
from convtrack._json import dumps
from convtrack.mcp import Reader

AWKWARD = 'quotes " backslashes \\ controls \x01\x1f newlines \n emoji 😀 bidi \u202e ' * 30


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[Reader]:
    """A reader over the shared store plus a conversation of text that JSON escapes heavily."""
    path = tmp_path / "store.db"
    fill(path)
    sink = SQLiteSink(path)
    history = [{"role": "user", "content": AWKWARD}]
    sink.export(
        [
            run("odd-1", "conv-odd", at=2000, inputs={"messages": history}, outputs=AWKWARD),
            run("odd-2", "conv-odd", at=2001, inputs={"messages": history * 3}, outputs=AWKWARD),
        ]
    )
    yield Reader(sink)
    sink.close()


def _pages(reader: Reader, conversation_id: str, budget: int) -> list[dict[str, Any]]:
    pages = [reader.get_conversation(conversation_id, max_chars=budget)]
    while pages[-1]["next_cursor"] is not None:
        cursor = pages[-1]["next_cursor"]
        pages.append(reader.get_conversation(conversation_id, max_chars=budget, cursor=cursor))
    return pages


def _said(pages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for page in pages:
        for turn in page["turns"]:
            for message in turn["messages"]:
                if message.get("continued"):
                    role, text = found.pop()
                    found.append((role, text + message["text"]))
                else:
                    found.append((message["role"], message["text"]))
    return found


@pytest.mark.parametrize("conversation_id", [LONG, "conv-odd"])
@pytest.mark.parametrize("budget", [1000, 1001, 1777, 4096, 20_000])
def test_pages_hold_the_budget_and_join_to_the_whole(
    reader: Reader, conversation_id: str, budget: int
) -> None:
    """Every page fits its budget, escapes counted; joined, the pages equal one big page."""
    whole = reader.get_conversation(conversation_id, max_chars=200_000)
    pages = _pages(reader, conversation_id, budget)
    assert all(len(dumps(page)) <= budget for page in pages)
    assert _said(pages) == _said([whole])
    assert sum(len(t["runs"]) for p in pages for t in p["turns"]) == whole["summary"]["runs"]


@pytest.mark.parametrize("budget", [1000, 1500, 5000])
def test_get_run_holds_the_budget(reader: Reader, budget: int) -> None:
    """get_run cuts the long fields to fit, names them, and keeps the ids whole."""
    found = reader.get_run("odd-2", max_chars=budget)
    assert len(dumps(found)) <= budget
    assert found["conversation_id"] == "conv-odd"
    assert set(found["truncated"]) >= {"inputs"}
    assert AWKWARD[:50] in reader.get_run("odd-2", max_chars=200_000)["outputs"]


def test_searches_page_without_loss_and_filters_runs(reader: Reader) -> None:
    """Cursor pages of conversations and of runs hold each row once."""
    seen, cursor = [], None
    while True:
        page = reader.search_runs(limit=7, conversation_id=LONG, cursor=cursor)
        seen += [r["run_id"] for r in page["runs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 32
    assert [r["run_id"] for r in reader.search_runs(model="claude-sonnet")["runs"]] == ["err-1"]
    since = reader.search_conversations(since="2026-03-01T12:20:00Z", limit=100)
    assert LONG not in [c["conversation_id"] for c in since["conversations"]]
    until = reader.search_conversations(until="2026-03-01T12:05:00Z")
    assert [c["conversation_id"] for c in until["conversations"]] == [LONG]
