"""An Anthropic chat app that sends no conversation ids, grouped into conversations anyway.

Two chats run at the same time through the official ``anthropic`` client: one sends each
answer's content blocks back as the next turn's assistant message, the other streams
with ``messages.stream()``. With ``convtrack_anthropic.instrument()`` every call becomes
an ``llm`` run, grouped by its history (the ``system`` prompt counts as its first
message). The runs go to a SQLite store, printed conversation by conversation.

Runs offline, against convtrack's local fake Anthropic server:
``python examples/anthropic_chat.py``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import anthropic
import convtrack_anthropic

import convtrack
from convtrack.fake_llm import FakeLLMServer

SYSTEM = "You are a patient gardening assistant."
CHATS = {
    "chloe": ["When do I plant tulip bulbs?", "How deep?", "Great, thanks."],
    "dev": ["My basil is wilting.", "It gets full sun all day."],
}


def chat_turn(client: anthropic.Anthropic, history: list[Any], stream: bool) -> Any:
    """One turn of the app: send the whole history, return the answer to append."""
    kwargs: dict[str, Any] = {
        "model": "claude-demo",
        "max_tokens": 200,
        "system": SYSTEM,
        "messages": history,
    }
    if stream:
        with client.messages.stream(**kwargs) as answer_stream:
            for text in answer_stream.text_stream:
                print(text, end="", flush=True)
            print()
            message = answer_stream.get_final_message()
    else:
        message = client.messages.create(**kwargs)
    return {"role": "assistant", "content": message.content}  # the content blocks, as sent


def main() -> None:
    """Run the app against a SQLite store in a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        run_app(Path(tmp) / "anthropic_chat.db")


def run_app(db_path: Path) -> None:
    """Record the app's calls into `db_path`, then print them conversation by conversation."""
    sink = convtrack.SQLiteSink(str(db_path))
    convtrack.configure([sink])
    convtrack_anthropic.instrument()
    histories: dict[str, list[Any]] = {name: [] for name in CHATS}
    with FakeLLMServer() as server:
        client = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="not-needed")
        for turn in range(max(map(len, CHATS.values()))):
            for name, questions in CHATS.items():
                if turn < len(questions):
                    history = histories[name]
                    history.append({"role": "user", "content": questions[turn]})
                    history.append(chat_turn(client, history, stream=name == "dev"))
        client.close()
    convtrack.flush()
    print(f"\nread back from {db_path.name}, a temporary SQLite store:\n")
    for summary in sink.conversations():
        print(f"conversation {summary.conversation_id} ({summary.llm_count} LLM calls)")
        for run in sink.runs(summary.conversation_id):
            question = run.inputs["messages"][-1]["content"]
            answer = " ".join(block.get("text", "") for block in run.outputs["content"])
            print(f"  [{run.grouping:<12}] {question!r} -> {answer!r}")
    convtrack.shutdown()
    convtrack_anthropic.uninstrument()


if __name__ == "__main__":
    main()
