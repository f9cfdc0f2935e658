"""`convtrack mcp` through the MCP SDK's own client, over stdio and streamable HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_support import ERRORED, LONG, TURNS, fill

from convtrack.sinks import SQLiteSink
from convtrack.sinks._dataset import chat_messages

TOOLS = {"search_conversations", "get_conversation", "search_runs", "get_run"}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store holding the long conversation, the errored one and ten small ones."""
    path = tmp_path / "store.db"
    fill(path)
    return path


def _server_command(db: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "convtrack.cli", "mcp", "--db", str(db), *extra]


@asynccontextmanager
async def stdio_session(db: Path) -> AsyncIterator[ClientSession]:
    """A client session with `convtrack mcp` started as a subprocess over stdio."""
    command, *args = _server_command(db)
    params = StdioServerParameters(command=command, args=args, env=dict(os.environ))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@pytest.fixture
def http_url(db: Path) -> Iterator[str]:
    """`convtrack mcp --transport http` on a free loopback port; its endpoint's URL."""
    process = subprocess.Popen(
        _server_command(db, "--transport", "http", "--port", "0"),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert "convtrack MCP server on http://127.0.0.1:" in line, line
        yield line.split(" on ", 1)[1].split()[0]
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stderr is not None
        process.stderr.close()


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """A tool's answer (structured), checked to equal its text and not to be an error."""
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    text = result.content[0].text  # type: ignore[union-attr]
    assert json.loads(text) == result.structured_content
    assert result.structured_content is not None
    return result.structured_content


async def error(session: ClientSession, tool: str, **arguments: Any) -> str:
    """The message of a tool call that must fail (a tool error, not a protocol error)."""
    result = await session.call_tool(tool, arguments)
    assert result.is_error
    return str(result.content[0].text)  # type: ignore[union-attr]


async def read_all_pages(session: ClientSession, max_chars: int) -> list[dict[str, Any]]:
    """Every page of the long conversation, following `next_cursor` to the end."""
    pages = [await call(session, "get_conversation", conversation_id=LONG, max_chars=max_chars)]
    while pages[-1]["next_cursor"] is not None:
        cursor = pages[-1]["next_cursor"]
        arguments = {"conversation_id": LONG, "max_chars": max_chars, "cursor": cursor}
        pages.append(await call(session, "get_conversation", **arguments))
        assert len(pages) < 200
    return pages


def joined_messages(pages: list[dict[str, Any]]) -> list[tuple[int, str | None, str]]:
    """(turn, role, text) of every message, parts cut across pages joined again."""
    found: list[tuple[int, str | None, str]] = []
    for page in pages:
        for turn in page["turns"]:
            for message in turn["messages"]:
                if message.get("continued"):
                    number, role, text = found.pop()
                    assert (number, role) == (turn["turn"], message["role"])
                    found.append((number, role, text + message["text"]))
                else:
                    found.append((turn["turn"], message["role"], message["text"]))
    return found


async def test_stdio_lists_read_only_tools_and_searches(db: Path) -> None:
    """Over stdio the four tools are listed read-only, and search finds by metadata and text."""
    async with stdio_session(db) as session:
        listed = (await session.list_tools()).tools
        assert {tool.name for tool in listed} == TOOLS
        for tool in listed:
            assert tool.annotations is not None
            assert tool.annotations.read_only_hint
            assert tool.description
        by_metadata = await call(session, "search_conversations", metadata={"customer_id": "77"})
        assert [c["conversation_id"] for c in by_metadata["conversations"]] == [LONG]
        row = by_metadata["conversations"][0]
        assert (row["runs"], row["llm_calls"]) == (4 * TURNS, 2 * TURNS)
        assert row["tools"] == ["track_parcel"]
        by_text = await call(session, "search_conversations", text="refund")
        assert [c["conversation_id"] for c in by_text["conversations"]] == [ERRORED]
        failed = await call(session, "search_conversations", status="error")
        assert [c["conversation_id"] for c in failed["conversations"]] == [ERRORED]


async def test_stdio_pages_conversations_with_a_cursor(db: Path) -> None:
    """search_conversations pages by cursor through every conversation once, newest first."""
    async with stdio_session(db) as session:
        seen: list[str] = []
        cursor = None
        while True:
            page = await call(session, "search_conversations", limit=5, cursor=cursor)
            seen += [c["conversation_id"] for c in page["conversations"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 12
        assert seen[0] == "conv-small-9"
        assert seen[-1] == LONG


async def test_stdio_pages_a_long_conversation_by_budget(db: Path) -> None:
    """get_conversation pages within the budget; joined, the pages are the whole transcript."""
    async with stdio_session(db) as session:
        whole = await call(session, "get_conversation", conversation_id=LONG, max_chars=200_000)
        assert whole["next_cursor"] is None
        pages = await read_all_pages(session, 1500)
    assert len(pages) > 10
    for page in pages:
        assert len(json.dumps(page, separators=(",", ":"), ensure_ascii=False)) <= 1500
    assert "summary" in pages[0]
    assert all("summary" not in page for page in pages[1:])
    assert joined_messages(pages) == joined_messages([whole])
    lines = [line for page in pages for turn in page["turns"] for line in turn["runs"]]
    assert lines == [line for turn in whole["turns"] for line in turn["runs"]]
    assert len(lines) == 4 * TURNS
    sink = SQLiteSink(db, create=False)
    try:
        expected = chat_messages(sink.runs(LONG))
    finally:
        sink.close()
    said = [text for _, _, text in joined_messages(pages)]
    assert len(said) == len(expected)
    for text, message in zip(said, expected, strict=True):
        assert (message["content"] or "") in text


async def test_http_search_runs_and_a_runs_conversation(http_url: str) -> None:
    """Over streamable HTTP, search_runs filters runs and get_run names its conversation."""
    async with (
        streamable_http_client(http_url) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        assert {tool.name for tool in (await session.list_tools()).tools} == TOOLS
        tools = await call(session, "search_runs", kind="tool", conversation_id=LONG, limit=3)
        assert [r["run_id"] for r in tools["runs"]] == ["tool-7", "tool-6", "tool-5"]
        rest = await call(
            session,
            "search_runs",
            kind="tool",
            conversation_id=LONG,
            limit=3,
            cursor=tools["next_cursor"],
        )
        assert [r["run_id"] for r in rest["runs"]] == ["tool-4", "tool-3", "tool-2"]
        failed = await call(session, "search_runs", status="error", model="claude-sonnet")
        assert [r["run_id"] for r in failed["runs"]] == ["err-1"]
        tagged = await call(session, "search_runs", metadata={"tier": 2}, limit=100)
        assert {r["run_id"] for r in tagged["runs"]} == {f"turn-{n}" for n in range(TURNS)}
        found = await call(session, "search_runs", text="I want a refund")
        assert [r["conversation_id"] for r in found["runs"]] == [ERRORED]
        run = await call(session, "get_run", run_id="llm-3b", max_chars=1000)
        assert run["conversation_id"] == LONG
        assert run["model"] == "gpt-4o"
        assert "inputs" in run["truncated"]
        assert len(json.dumps(run, separators=(",", ":"), ensure_ascii=False)) <= 1000
        small = await call(session, "get_run", run_id="err-1")
        assert small["truncated"] == []
        assert small["error"] == "RateLimitError: slow down"


BAD_ARGUMENTS = [
    ("get_conversation", {"conversation_id": "no-such"}, "no conversation"),
    ("get_conversation", {"conversation_id": "../../etc/passwd"}, "no conversation"),
    ("get_run", {"run_id": "no-such"}, "no run"),
    ("get_run", {"run_id": "/../x\\y?z#"}, "no run"),
    ("get_conversation", {"conversation_id": LONG, "max_chars": -5}, "max_chars"),
    ("get_conversation", {"conversation_id": LONG, "max_chars": 10**12}, "max_chars"),
    ("get_conversation", {"conversation_id": LONG, "cursor": "abc.def"}, "cursor"),
    ("search_runs", {"cursor": "abc.d\u00e9f"}, "cursor"),
    ("search_conversations", {"limit": 10**9}, "limit"),
    ("search_conversations", {"limit": 0}, "limit"),
    ("search_conversations", {"status": "weird"}, "status"),
    ("search_conversations", {"since": "yesterday-ish"}, "since"),
    ("search_conversations", {"metadata": {"customer_id": {"nested": 1}}}, "metadata"),
    ("search_conversations", {"metadata": "customer_id=77"}, "metadata"),
    ("search_conversations", {"metadata": {"k": "v" * 600}}, "metadata"),
    ("search_runs", {"kind": "robot"}, "kind"),
    ("get_run", {"run_id": "x" * 20_000}, "run_id"),
]


async def test_http_bad_arguments_are_tool_errors(http_url: str) -> None:
    """Unknown ids, bad filters, budgets and cursors answer a tool error; the server goes on."""
    async with (
        streamable_http_client(http_url) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        for tool, arguments, message in BAD_ARGUMENTS:
            assert message in await error(session, tool, **arguments), (tool, arguments)
        assert (await call(session, "search_conversations", limit=1))["conversations"]


def test_http_refuses_another_host_name(http_url: str) -> None:
    """On loopback the HTTP transport answers only requests naming a loopback host (DNS
    rebinding: a web page cannot read the conversations)."""
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"host": "evil.example", "accept": "application/json, text/event-stream"}
    answer = httpx.post(http_url, json=ping, headers=headers)
    assert answer.status_code in (400, 403, 421)


async def test_stdio_refuses_a_cursor_from_another_query(db: Path) -> None:
    """A cursor is bound to its tool and filters: another query's cursor is a tool error."""
    async with stdio_session(db) as session:
        first = await call(session, "search_conversations", limit=2)
        assert "another query" in await error(
            session, "search_conversations", limit=2, user_id="user-7", cursor=first["next_cursor"]
        )
        assert "another query" in await error(session, "search_runs", cursor=first["next_cursor"])
        page = await call(session, "get_conversation", conversation_id=LONG, max_chars=1000)
        assert page["summary"]["trimmed"]
        assert page["turns"]
        assert "another query" in await error(
            session, "get_conversation", conversation_id=ERRORED, cursor=page["next_cursor"]
        )
