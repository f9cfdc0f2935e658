"""The MCP server: four read-only tools over a store, served on stdio or streamable HTTP."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from .._json import dumps
from ..sinks._run_search import RUN_KINDS
from ._read import DEFAULT_CHARS, DEFAULT_LIMIT, MAX_CHARS, MAX_LIMIT, MIN_CHARS, Reader, Store

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
INSTRUCTIONS = (
    "Read the conversations an LLM application recorded with convtrack: find them with"
    " search_conversations (by user, agent, metadata, text, errors, time), read one turn by"
    " turn with get_conversation (paged: pass next_cursor back until it is null), find runs"
    " (LLM calls, tools, steps) with search_runs and read one in full with get_run."
)
Scalar = str | int | float | bool | None
Metadata = Annotated[
    dict[str, Scalar] | None,
    Field(description='only where each key has this value, e.g. {"customer_id": "77"}'),
]
Text = Annotated[str | None, Field(description="only those whose messages contain this text")]
Since = Annotated[
    str | None, Field(description="ISO 8601 time, or a span back from now such as 2h or 7d")
]
Limit = Annotated[
    int | None, Field(description=f"rows per page, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})")
]
Cursor = Annotated[
    str | None, Field(description="next_cursor of the previous page, with the same arguments")
]
Budget = Annotated[
    int | None,
    Field(
        description=f"characters of the answer at most, {MIN_CHARS} to {MAX_CHARS}"
        f" (default {DEFAULT_CHARS})"
    ),
]
Status = Annotated[str | None, Field(description='"error": with a failed run; "ok": without')]


def _answer(make: Callable[[], dict[str, Any]]) -> CallToolResult:
    """The tool's answer as compact JSON text (and structured), or a tool error."""
    try:
        found = make()
    except ValueError as exc:
        raise ToolError(str(exc)) from None
    return CallToolResult(
        content=[TextContent(type="text", text=dumps(found))], structured_content=found
    )


def create_server(store: Store) -> MCPServer:
    """An MCP server answering `search_conversations`, `get_conversation`, `search_runs` and
    `get_run` from `store` (read only)."""
    reader = Reader(store)
    server: MCPServer = MCPServer("convtrack", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool(annotations=READ_ONLY)
    def search_conversations(
        user_id: Annotated[str | None, Field(description="only this user's")] = None,
        agent_id: Annotated[str | None, Field(description="only this agent's")] = None,
        metadata: Metadata = None,
        text: Text = None,
        status: Status = None,
        since: Since = None,
        until: Since = None,
        limit: Limit = None,
        cursor: Cursor = None,
    ) -> CallToolResult:
        """Find conversations, the most recently active first: one compact row each (ids,
        times, runs, LLM calls, tokens, cost, errors, first input, last answer, tools, given
        or inferred grouping, metadata) and `next_cursor` for the next page (null: no more).
        `since`/`until` bound the last activity."""
        return _answer(
            lambda: reader.search_conversations(
                user_id=user_id,
                agent_id=agent_id,
                metadata=metadata,
                text=text,
                status=status,
                since=since,
                until=until,
                limit=limit,
                cursor=cursor,
            )
        )

    @server.tool(annotations=READ_ONLY)
    def get_conversation(
        conversation_id: Annotated[str, Field(description="the conversation's id")],
        max_chars: Budget = None,
        cursor: Cursor = None,
    ) -> CallToolResult:
        """Read one conversation turn by turn: each turn's run tree (one line per run, with
        its run_id for get_run) and the messages said (user, assistant, tool calls and
        results). Paged by a character budget: while `next_cursor` is not null, call again
        with it; a message cut at the end of a page (`continues`) goes on, `continued`, on the
        next. The first page also has the conversation's summary."""
        return _answer(
            lambda: reader.get_conversation(conversation_id, max_chars=max_chars, cursor=cursor)
        )

    @server.tool(annotations=READ_ONLY)
    def search_runs(
        conversation_id: Annotated[str | None, Field(description="only this one's runs")] = None,
        kind: Annotated[
            str | None,
            Field(description=f"one of {', '.join(RUN_KINDS)}"),
        ] = None,
        status: Annotated[str | None, Field(description='"error" or "ok"')] = None,
        model: Annotated[str | None, Field(description="only calls to this model")] = None,
        metadata: Metadata = None,
        text: Annotated[
            str | None, Field(description="only runs whose inputs, outputs or error hold this")
        ] = None,
        since: Annotated[
            str | None, Field(description="started since: ISO 8601 time or a span such as 2h")
        ] = None,
        limit: Limit = None,
        cursor: Cursor = None,
    ) -> CallToolResult:
        """Find runs (LLM calls, tools, chains, steps), the most recently started first: one
        compact row each with its conversation_id, and `next_cursor` for the next page."""
        return _answer(
            lambda: reader.search_runs(
                conversation_id=conversation_id,
                kind=kind,
                status=status,
                model=model,
                metadata=metadata,
                text=text,
                since=since,
                limit=limit,
                cursor=cursor,
            )
        )

    @server.tool(annotations=READ_ONLY)
    def get_run(
        run_id: Annotated[str, Field(description="the run's id")],
        max_chars: Budget = None,
    ) -> CallToolResult:
        """Read one run in full: its conversation_id, parent, kind, name, model, times,
        status, error, tokens, inputs, outputs and metadata. Fields too long for `max_chars`
        are cut (the start of their JSON text) and named in `truncated`."""
        return _answer(lambda: reader.get_run(run_id, max_chars=max_chars))

    return server


def serve_http(
    server: MCPServer, *, host: str, port: int, store_name: str, loopback: bool = True
) -> None:
    """Serve `server` over streamable HTTP at `/mcp` until interrupted; announce the address
    on stderr once it accepts connections (port 0: a free one)."""
    import uvicorn

    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise SystemExit(f"convtrack: cannot listen on {host}:{port} ({exc})") from None
    app = server.streamable_http_app(host=host.strip("[]"))
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="none")
    uv = uvicorn.Server(config)
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}/mcp"

    async def main() -> None:
        serving = asyncio.ensure_future(uv.serve(sockets=[sock]))
        while not uv.started and not serving.done():
            await asyncio.sleep(0.01)
        if uv.started:
            print(f"convtrack MCP server on {url}  (store: {store_name})", file=sys.stderr)
            if not loopback:
                print(
                    f"convtrack: warning: listening on {host}, not on loopback: anyone who can"
                    " reach this address can read these conversations",
                    file=sys.stderr,
                )
            sys.stderr.flush()
        await serving

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
