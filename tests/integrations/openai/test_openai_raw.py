"""`with_raw_response` and `with_streaming_response`: recorded and remembered, body untouched."""

from __future__ import annotations

import gc
import json
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion
from openai_support import MODEL, llm_runs

import convtrack

# how the app reads the answer: with_raw_response (then parse()), or with_streaming_response
# and one of its reads; "+stream" makes the request streamed (server-sent events)
WAYS = [
    "raw",
    "raw+stream",
    "streaming.parse",
    "streaming.parse+stream",
    "streaming.json",
    "streaming.read+stream",
    "streaming.iter_lines+stream",
    "streaming.iter_bytes",
    "streaming.iter_text+stream",
]


def _sse_json(body: str) -> list[Any]:
    return [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: {")]


def _chat_text(value: Any) -> str:
    """The answer's text from whatever the app's read returned."""
    if isinstance(value, ChatCompletion):
        return value.choices[0].message.content or ""
    if isinstance(value, dict):
        return str(value["choices"][0]["message"]["content"])
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        if not value.startswith("data:"):
            return _chat_text(json.loads(value))
        chunks = _sse_json(value)
        return "".join(
            c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
        )
    return "".join(c.choices[0].delta.content or "" for c in value if c.choices)


async def _collect(iterator: Any) -> list[Any]:
    if hasattr(iterator, "__aiter__"):
        return [item async for item in iterator]
    return list(iterator)


async def _await(value: Any) -> Any:
    return await value if hasattr(value, "__await__") else value


async def _read(response: Any, how: str) -> Any:
    """Read a with_streaming_response response the way `how` says; what the app got."""
    if how == "parse":
        parsed = await _await(response.parse())
        return await _collect(parsed) if hasattr(parsed, "response") else parsed
    if how in ("json", "read"):
        return await _await(getattr(response, how)())
    parts = await _collect(getattr(response, how)())
    return ("\n" if how == "iter_lines" else "").join(
        p.decode() if how == "iter_bytes" else p for p in parts
    )


async def chat_turn(
    client: openai.OpenAI | openai.AsyncOpenAI, way: str, messages: list[Any]
) -> str:
    """One chat turn made `way`; the answer's text as the app read it."""
    kwargs: dict[str, Any] = {"model": MODEL, "messages": messages}
    if way.endswith("+stream"):
        kwargs |= {"stream": True, "stream_options": {"include_usage": True}}
    completions = client.chat.completions
    if way.startswith("raw"):
        raw = await _await(completions.with_raw_response.create(**kwargs))
        parsed = raw.parse()
        return _chat_text(await _collect(parsed) if kwargs.get("stream") else parsed)
    how = way.split(".")[1].removesuffix("+stream")
    manager = completions.with_streaming_response.create(**kwargs)
    if isinstance(client, openai.AsyncOpenAI):
        async with manager as response:
            return _chat_text(await _read(response, how))
    with manager as response:
        return _chat_text(await _read(response, how))


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_raw_call_is_recorded_and_the_next_turn_joins_it(
    way: str,
    mode: str,
    client: openai.OpenAI,
    aclient: openai.AsyncOpenAI,
    sink: convtrack.MemorySink,
) -> None:
    """The run has the answer, usage, model and response id; the next turn is matched."""
    api = client if mode == "sync" else aclient
    history: list[Any] = [{"role": "user", "content": "hi there"}]
    text = await chat_turn(api, way, history)
    assert text == "echo #1: hi there"
    history += [{"role": "assistant", "content": text}, {"role": "user", "content": "more"}]
    assert await chat_turn(api, way, history) == "echo #2: more"
    first, second = llm_runs(sink)
    assert first.outputs["content"] == text
    assert first.usage is not None
    assert first.usage["total_tokens"] > 0
    assert first.model == MODEL
    assert first.metadata["response_id"].startswith("chatcmpl-")
    assert "raw_response" not in first.metadata
    assert (second.grouping, second.conversation_id) == ("auto-matched", first.conversation_id)


async def test_a_raw_answer_is_the_same_object_the_app_parses(
    client: openai.OpenAI, sink: convtrack.MemorySink
) -> None:
    """`with_raw_response` returns the SDK's own response; its parse() is unchanged."""
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}]
    )
    assert type(raw).__name__ == "LegacyAPIResponse"
    assert raw.parse() is raw.parse()
    assert raw.parse().choices[0].message.content == "echo #1: hi"


@pytest.mark.parametrize("stream", [False, True])
def test_a_streaming_response_body_is_read_only_by_the_app(
    stream: bool, client: openai.OpenAI, sink: convtrack.MemorySink
) -> None:
    """Until the app reads, the body stays unread and the run open; closing unread ends it."""
    messages = [{"role": "user", "content": "hi"}]
    manager = client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=messages, stream=stream
    )
    with manager as response:
        assert response.is_closed is False
        convtrack.flush()
        assert llm_runs(sink) == []
    (run,) = llm_runs(sink)
    assert run.status == "ok"
    assert run.metadata.get("incomplete") is True
    assert run.outputs is None or run.outputs["content"] == ""


async def test_a_streamed_raw_response_read_halfway(
    aclient: openai.AsyncOpenAI, sink: convtrack.MemorySink
) -> None:
    """Leaving after some lines records what was read, marked incomplete."""
    manager = aclient.chat.completions.with_streaming_response.create(
        model=MODEL, messages=[{"role": "user", "content": "one two three four"}], stream=True
    )
    async with manager as response:
        lines = response.iter_lines()
        seen = [await lines.__anext__() for _ in range(6)]
    assert any("echo" in line for line in seen)
    (run,) = llm_runs(sink)
    assert run.metadata["incomplete"] is True
    assert run.outputs["content"].startswith("echo")


def test_an_unread_raw_stream_dropped_ends_its_run(
    client: openai.OpenAI, sink: convtrack.MemorySink
) -> None:
    """A streamed with_raw_response never parsed ends its run when garbage-collected."""
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    raw.http_response.close()
    del raw
    gc.collect()
    (run,) = llm_runs(sink)
    assert run.metadata["incomplete"] is True


def test_a_failing_streaming_request_is_an_error(
    client: openai.OpenAI, sink: convtrack.MemorySink
) -> None:
    """The SDK's error on entering with_streaming_response passes through and is recorded."""
    manager = client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=[{"role": "user", "content": "x [fail:429]"}]
    )
    with pytest.raises(openai.RateLimitError), manager:
        pass
    (run,) = llm_runs(sink)
    assert run.status == "error"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_responses_through_raw_calls_chain(
    stream: bool,
    mode: str,
    client: openai.OpenAI,
    aclient: openai.AsyncOpenAI,
    sink: convtrack.MemorySink,
) -> None:
    """responses.with_streaming_response (the Agents SDK's way) and with_raw_response chain."""
    api = client if mode == "sync" else aclient
    manager = api.responses.with_streaming_response.create(model=MODEL, input="hi", stream=stream)
    if mode == "async":
        async with manager as response:
            parsed = await response.parse()
            events = [e async for e in parsed] if stream else None
    else:
        with manager as response:
            parsed = response.parse()
            events = list(parsed) if stream else None
    first = events[-1].response if events else parsed
    raw = await _await(
        api.responses.with_raw_response.create(
            model=MODEL, input="more", previous_response_id=first.id
        )
    )
    assert raw.parse().output_text == "echo #2: more"
    one, two = llm_runs(sink)
    assert one.outputs == {"role": "assistant", "content": "echo #1: hi"}
    assert one.metadata["response_id"] == first.id
    assert one.usage is not None
    assert two.usage is not None
    assert (two.grouping, two.conversation_id) == ("auto-matched", one.conversation_id)
