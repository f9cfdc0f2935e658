"""`with_raw_response` and `with_streaming_response` on `messages`: recorded and remembered."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest
from anthropic.types import Message
from anthropic_support import MODEL, llm_runs

import convtrack

WAYS = [
    "raw",
    "raw+stream",
    "streaming.parse",
    "streaming.parse+stream",
    "streaming.iter_lines+stream",
    "streaming.json",
]


async def _await(value: Any) -> Any:
    return await value if hasattr(value, "__await__") else value


async def _collect(iterator: Any) -> list[Any]:
    if hasattr(iterator, "__aiter__"):
        return [item async for item in iterator]
    return list(iterator)


def _text(value: Any) -> str:
    """The answer's text from whatever the app's read returned."""
    if isinstance(value, Message):
        return "".join(getattr(block, "text", "") for block in value.content)
    if isinstance(value, dict):
        return "".join(block.get("text", "") for block in value["content"])
    if isinstance(value, str):
        events = [json.loads(line[6:]) for line in value.splitlines() if line.startswith("data: {")]
        return "".join(
            e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta"
        )
    return "".join(e.delta.text for e in value if e.type == "content_block_delta")


async def turn(
    client: anthropic.Anthropic | anthropic.AsyncAnthropic, way: str, messages: list[Any]
) -> str:
    """One `messages.create` turn made `way`; the answer's text as the app read it."""
    kwargs: dict[str, Any] = {"model": MODEL, "max_tokens": 100, "messages": messages}
    stream = way.endswith("+stream")
    if stream:
        kwargs["stream"] = True
    if way.startswith("raw"):
        raw = await _await(client.messages.with_raw_response.create(**kwargs))
        parsed = await _await(raw.parse())
        return _text(await _collect(parsed) if stream else parsed)
    how = way.split(".")[1].removesuffix("+stream")
    manager = client.messages.with_streaming_response.create(**kwargs)
    if isinstance(client, anthropic.AsyncAnthropic):
        async with manager as response:
            return _text(await _read(response, how, stream))
    with manager as response:
        return _text(await _read(response, how, stream))


async def _read(response: Any, how: str, stream: bool) -> Any:
    if how == "parse":
        parsed = await _await(response.parse())
        return await _collect(parsed) if stream else parsed
    if how == "json":
        return await _await(response.json())
    return "\n".join(await _collect(response.iter_lines()))


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_raw_call_is_recorded_and_the_next_turn_joins_it(
    way: str,
    mode: str,
    client: anthropic.Anthropic,
    aclient: anthropic.AsyncAnthropic,
    sink: convtrack.MemorySink,
) -> None:
    """The run has the answer, usage, model and message id; the next turn is matched."""
    api = client if mode == "sync" else aclient
    history: list[Any] = [{"role": "user", "content": "hi there"}]
    text = await turn(api, way, history)
    assert text == "echo #1: hi there"
    history += [
        {"role": "assistant", "content": [{"type": "text", "text": text}]},
        {"role": "user", "content": "more"},
    ]
    assert await turn(api, way, history) == "echo #2: more"
    first, second = llm_runs(sink)
    assert first.outputs["content"] == [{"type": "text", "text": text}]
    assert first.usage is not None
    assert first.usage["total_tokens"] > 0
    assert first.model == MODEL
    assert first.metadata["response_id"].startswith("msg_")
    assert (second.grouping, second.conversation_id) == ("auto-matched", first.conversation_id)
