"""An OpenAI chat app that sends no conversation ids, grouped into conversations anyway.

Two users chat at the same time through the official ``openai`` client; the app resends
each chat's history on every turn (one chat streams its answers). With
``convtrack_openai.instrument()`` every call becomes an ``llm`` run, and automatic
grouping puts each chat's turns in one conversation. The runs go to a SQLite store,
printed conversation by conversation at the end.

Runs offline, against convtrack's local fake OpenAI server:
``python examples/openai_chat.py``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import convtrack_openai
import openai

import convtrack
from convtrack.fake_llm import FakeLLMServer

SYSTEM = {"role": "system", "content": "You are a concise cooking assistant."}
CHATS = {
    "ana": ["How long do I boil an egg?", "And for a soft yolk?", "Thanks!"],
    "ben": ["Can I freeze fresh basil?", "In oil or in water?"],
}


def chat_turn(client: openai.OpenAI, history: list[Any], stream: bool) -> Any:
    """One turn of the app: send the whole history, return the answer to append."""
    if not stream:
        completion = client.chat.completions.create(model="gpt-4o-mini", messages=history)
        return completion.choices[0].message
    chunks = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=history,
        stream=True,
        stream_options={"include_usage": True},
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    return {"role": "assistant", "content": text}


def main() -> None:
    """Run the app against a SQLite store in a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        run_app(Path(tmp) / "openai_chat.db")


def run_app(db_path: Path) -> None:
    """Record the app's calls into `db_path`, then print them conversation by conversation."""
    sink = convtrack.SQLiteSink(str(db_path))
    convtrack.configure([sink])
    convtrack_openai.instrument()
    histories: dict[str, list[Any]] = {name: [SYSTEM] for name in CHATS}
    with FakeLLMServer() as server:
        client = openai.OpenAI(base_url=server.openai_base_url, api_key="not-needed")
        for turn in range(max(map(len, CHATS.values()))):
            for name, questions in CHATS.items():
                if turn < len(questions):
                    history = histories[name]
                    history.append({"role": "user", "content": questions[turn]})
                    history.append(chat_turn(client, history, stream=name == "ben"))
        client.close()
    convtrack.flush()
    print(f"read back from {db_path.name}, a temporary SQLite store:\n")
    for summary in sink.conversations():
        print(f"conversation {summary.conversation_id} ({summary.llm_count} LLM calls)")
        for run in sink.runs(summary.conversation_id):
            question = run.inputs["messages"][-1]["content"]
            answer = run.outputs["content"]
            tokens = (run.usage or {}).get("total_tokens")
            print(f"  [{run.grouping:<12}] {question!r} -> {answer!r} ({tokens} tokens)")
    convtrack.shutdown()
    convtrack_openai.uninstrument()


if __name__ == "__main__":
    main()
