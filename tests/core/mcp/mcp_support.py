"""A store for the MCP and dataset tests: a long conversation with tools, an errored one."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from convtrack import Run, RunKind, SQLiteSink

START = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
LONG = "conv-long"
ERRORED = "conv-errored"
TURNS = 8


def run(
    run_id: str,
    conversation_id: str,
    *,
    at: int,
    kind: RunKind = RunKind.LLM,
    parent: str | None = None,
    root: str | None = None,
    **fields: Any,
) -> Run:
    """A finished run `at` seconds after `START`, lasting half a second."""
    values: dict[str, Any] = {
        "run_id": run_id,
        "parent_run_id": parent,
        "root_run_id": root or run_id,
        "conversation_id": conversation_id,
        "user_id": "user-7",
        "agent_id": "support-bot",
        "kind": kind,
        "name": "chat.completions" if kind is RunKind.LLM else "step",
        "source": "test",
        "grouping": "explicit",
        "started_at": START + timedelta(seconds=at),
        "ended_at": START + timedelta(seconds=at, milliseconds=500),
    }
    values.update(fields)
    return Run(**values)


def long_conversation() -> list[Run]:
    """`TURNS` turns: a chain, its LLM call (history resent, a tool call) and a tool run."""
    runs: list[Run] = []
    history: list[dict[str, Any]] = [{"role": "system", "content": "You are a support bot."}]
    for turn in range(TURNS):
        root = f"turn-{turn}"
        question = f"question {turn}: " + ('why is my parcel late? "quoted"\n' * 40)
        history.append({"role": "user", "content": question})
        call = {
            "id": f"call-{turn}",
            "type": "function",
            "function": {"name": "track_parcel", "arguments": f'{{"parcel": {turn}}}'},
        }
        asked = {"role": "assistant", "content": None, "tool_calls": [call]}
        runs.append(
            run(
                root,
                LONG,
                at=turn * 10,
                kind=RunKind.CHAIN,
                name="answer",
                metadata={"customer_id": "77", "tier": 2},
            )
        )
        runs.append(
            run(
                f"llm-{turn}a",
                LONG,
                at=turn * 10 + 1,
                parent=root,
                root=root,
                model="gpt-4o",
                inputs={"messages": list(history)},
                outputs=asked,
                usage={"prompt_tokens": 100, "completion_tokens": 10},
            )
        )
        history.append(asked)
        runs.append(
            run(
                f"tool-{turn}",
                LONG,
                at=turn * 10 + 2,
                kind=RunKind.TOOL,
                name="track_parcel",
                parent=root,
                root=root,
                inputs={"parcel": turn},
                outputs={"status": "in transit"},
            )
        )
        history.append({"role": "tool", "tool_call_id": f"call-{turn}", "content": "in transit"})
        answer = {"role": "assistant", "content": f"answer {turn}: " + "it is on its way. " * 60}
        runs.append(
            run(
                f"llm-{turn}b",
                LONG,
                at=turn * 10 + 3,
                parent=root,
                root=root,
                model="gpt-4o",
                inputs={"messages": list(history)},
                outputs=answer,
                usage={"prompt_tokens": 200, "completion_tokens": 50},
            )
        )
        history.append(answer)
    return runs


def errored_conversation() -> list[Run]:
    """One failed LLM call of another user, about a refund."""
    return [
        run(
            "err-1",
            ERRORED,
            at=500,
            user_id="user-8",
            model="claude-sonnet",
            inputs={"messages": [{"role": "user", "content": "I want a refund"}]},
            status="error",
            error="RateLimitError: slow down",
            metadata={"customer_id": "78"},
        )
    ]


def fill(db: Path) -> None:
    """Write both conversations and ten small ones to the store at `db`."""
    small = [
        run(f"small-{n}", f"conv-small-{n}", at=1000 + n, inputs="hello", outputs="hi")
        for n in range(10)
    ]
    sink = SQLiteSink(db)
    try:
        sink.export([*long_conversation(), *errored_conversation(), *small])
    finally:
        sink.close()
