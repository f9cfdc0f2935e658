"""Conversations as chat datasets: `export_conversations()` and `convtrack export --format
openai-chat`, each line re-read and checked against the runs in the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp_support import ERRORED, LONG, fill, run

from convtrack import RunKind, SQLiteSink
from convtrack.cli import main
from convtrack.sinks import export_conversations
from convtrack.sinks._dataset import chat_messages


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store holding the long conversation, the errored one and ten small ones."""
    path = tmp_path / "store.db"
    fill(path)
    return path


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_conversation_is_its_last_calls_history_and_answer(db: Path) -> None:
    """The long conversation's messages are the last call's messages plus its answer, each once,
    tool calls and tool results included; its metadata comes from the store's summary."""
    sink = SQLiteSink(db, create=False)
    try:
        records = list(export_conversations(sink, metadata={"customer_id": "77"}))
        runs = sink.runs(LONG)
    finally:
        sink.close()
    assert len(records) == 1
    last = [r for r in runs if r.kind is RunKind.LLM][-1]
    assert records[0]["messages"] == [*last.inputs["messages"], last.outputs]
    assert records[0]["messages"][2]["tool_calls"][0]["function"]["name"] == "track_parcel"
    assert records[0]["messages"][3] == {
        "role": "tool",
        "tool_call_id": "call-0",
        "content": "in transit",
    }
    meta = records[0]["metadata"]
    assert meta["conversation_id"] == LONG
    assert meta["models"] == ["gpt-4o"]
    assert meta["llm_calls"] == 16
    assert meta["metadata"] == {"customer_id": "77", "tier": 2}


def test_anthropic_blocks_become_tool_calls_and_tool_messages(tmp_path: Path) -> None:
    """Anthropic's system text, tool_use and tool_result blocks become OpenAI chat messages."""
    use = {"type": "tool_use", "id": "tu-1", "name": "weather", "input": {"city": "Oslo"}}
    result = {
        "type": "tool_result",
        "tool_use_id": "tu-1",
        "content": [{"type": "text", "text": "5C"}],
    }
    history = [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Checking."}, use]},
        {"role": "user", "content": [result]},
    ]
    call = run(
        "a-1",
        "conv-claude",
        at=0,
        inputs={"messages": history, "system": "Be brief."},
        outputs={"role": "assistant", "content": [{"type": "text", "text": "5C in Oslo."}]},
    )
    assert chat_messages([call]) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "tu-1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "tu-1", "content": "5C"},
        {"role": "assistant", "content": "5C in Oslo."},
    ]


def test_cli_writes_one_line_per_matching_conversation(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`export --format openai-chat` applies the store's filters; re-read, it equals the runs."""
    out = tmp_path / "chat.jsonl"
    assert main(["export", "--db", str(db), "--format", "openai-chat", "-o", str(out)]) == 0
    records = _read(out)
    assert [r["metadata"]["conversation_id"] for r in records][-2:] == [ERRORED, LONG]
    assert len(records) == 12
    sink = SQLiteSink(db, create=False)
    try:
        for record in records:
            runs = sink.runs(record["metadata"]["conversation_id"])
            assert record["messages"] == json.loads(json.dumps(chat_messages(runs)))
    finally:
        sink.close()
    flags = ["--status", "error", "--user", "user-8", "--since", "2020-01-01"]
    assert main(["export", "--db", str(db), "--format", "openai-chat", *flags]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["messages"] for line in lines] == [
        [{"role": "user", "content": "I want a refund"}]
    ]
    assert main(["export", "--db", str(db), "--metadata", "customer_id=78", "-o", str(out)]) == 0
    assert [r["run_id"] for r in _read(out)] == ["err-1"]  # jsonl: that conversation's runs


def test_cli_export_refuses_a_bad_filter(db: Path) -> None:
    """A filter the store refuses is a one-line error before anything is written."""
    with pytest.raises(SystemExit, match="metadata"):
        main(["export", "--db", str(db), "--format", "openai-chat", "--metadata", "novalue"])
    with pytest.raises(SystemExit, match="--since"):
        main(["export", "--db", str(db), "--format", "openai-chat", "--since", "soon"])


def test_cli_export_shows_a_progress_bar_on_a_terminal(db: Path, tmp_path: Path) -> None:
    """On a terminal, the dataset export draws a rich progress bar on stderr."""
    out = tmp_path / "chat.jsonl"
    command = ["export", "--format", "openai-chat", "--db", str(db), "-o", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "convtrack.cli", *command],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "100"},
    )
    assert result.returncode == 0, result.stderr
    assert "exporting conversations" in result.stderr
    assert len(_read(out)) == 12
