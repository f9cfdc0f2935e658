"""The demo's LLM part: a chat app that sends no conversation ids, grouped automatically.

Three support chats go through the official ``openai`` client (interleaved turn by turn,
one streamed, one with a tool call) and one through ``anthropic``, against the local
fake server (``convtrack.fake_llm``), instrumented by ``convtrack-openai`` and
``convtrack-anthropic``. Automatic grouping puts each chat in its own conversation.
The integrations are imported lazily: without them the part does nothing.
"""

from __future__ import annotations

import importlib
import json
from types import ModuleType
from typing import Any

import convtrack
from convtrack import SQLiteSink
from convtrack.fake_llm import FakeLLMServer

_SYSTEM = {"role": "system", "content": "You are the support assistant of a bike shop."}
_OPENAI_CHATS = {
    "user-dana": ["Where is my order #4521?", "Can you ship it faster?"],
    "user-eli": ["Do you repair e-bikes?", "How long does a repair take?", "Thanks!"],
    "user-fay": ["Which helmet size for a 58 cm head?", "Is it a MIPS helmet?"],
}
_ANTHROPIC_CHAT = ("user-gus", ["My chain keeps slipping.", "It's a 9-speed.", "Fixed, thanks!"])
_SOURCES = ("openai", "anthropic")
_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "order_status",
            "description": "Look up an order",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    }
]


def _load(*names: str) -> list[ModuleType] | None:
    try:
        return [importlib.import_module(name) for name in names]
    except ImportError:
        return None


def _openai_turn(client: Any, user: str, history: list[Any], text: str, stream: bool) -> None:
    history.append({"role": "user", "content": text})
    kwargs: dict[str, Any] = {"model": "gpt-demo", "messages": history}
    kwargs["metadata"] = {"user_id": user}
    if "order" in text:  # the app offers its tool; the model calls it, the app answers
        message = client.chat.completions.create(**kwargs, tools=_TOOLS).choices[0].message
        history.append(message)
        call = message.tool_calls[0]
        status = {"order": json.loads(call.function.arguments)["query"], "status": "shipped"}
        history.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(status)})
    if stream:
        chunks = client.chat.completions.create(**kwargs, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        history.append({"role": "assistant", "content": text})
    else:
        history.append(client.chat.completions.create(**kwargs).choices[0].message)


def _run_openai(server: FakeLLMServer) -> None:
    modules = _load("openai", "convtrack_openai")
    if modules is None:
        return
    openai, integration = modules
    integration.instrument()
    try:
        with openai.OpenAI(base_url=server.openai_base_url, api_key="demo") as client:
            histories: dict[str, list[Any]] = {user: [_SYSTEM] for user in _OPENAI_CHATS}
            for turn in range(max(map(len, _OPENAI_CHATS.values()))):
                for user, texts in _OPENAI_CHATS.items():
                    if turn < len(texts):
                        stream = user == "user-eli"
                        _openai_turn(client, user, histories[user], texts[turn], stream)
    finally:
        integration.uninstrument()


def _run_anthropic(server: FakeLLMServer) -> None:
    modules = _load("anthropic", "convtrack_anthropic")
    if modules is None:
        return
    anthropic, integration = modules
    integration.instrument()
    user, texts = _ANTHROPIC_CHAT
    try:
        with anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="demo") as client:
            history: list[Any] = []
            for index, text in enumerate(texts):
                history.append({"role": "user", "content": text})
                kwargs: dict[str, Any] = {"model": "claude-demo", "max_tokens": 300}
                kwargs |= {"system": _SYSTEM["content"], "messages": history}
                kwargs["metadata"] = {"user_id": user}
                if index % 2:
                    with client.messages.stream(**kwargs) as stream:
                        message = stream.get_final_message()
                else:
                    message = client.messages.create(**kwargs)
                history.append({"role": "assistant", "content": message.content})
    finally:
        integration.uninstrument()


def run_llm_part(db_path: str) -> list[str]:
    """Drive the chats (convtrack must be configured, writing to `db_path`).

    Returns:
        The ids of the conversations the chats were grouped into, oldest first; [] when
        neither integration is installed.
    """
    if _load("convtrack_openai") is None and _load("convtrack_anthropic") is None:
        return []
    with FakeLLMServer() as server:
        _run_openai(server)
        _run_anthropic(server)
    convtrack.flush(10.0)
    return _llm_conversations(db_path)


def _llm_conversations(db_path: str) -> list[str]:
    """The conversations of `db_path` holding runs of the two integrations, oldest first."""
    store = SQLiteSink(db_path, create=False)
    try:
        found = [
            (summary.first_at, summary.conversation_id)
            for summary in store.conversations(limit=None)
            if any(r.source in _SOURCES for r in store.runs(summary.conversation_id))
        ]
    finally:
        store.close()
    return [conversation_id for _, conversation_id in sorted(found)]
