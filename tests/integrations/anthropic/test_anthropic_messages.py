"""messages.create / messages.stream: conversations, runs and the unchanged client."""

from __future__ import annotations

import logging
from typing import Any

import anthropic
import convtrack_anthropic
import pytest
from anthropic_support import MODEL, Claude, llm_runs

import convtrack

TOOLS = [{"name": "lookup", "input_schema": {"type": "object"}}]


async def test_three_turns_with_no_ids_land_in_one_conversation(
    claude: Claude, sink: convtrack.MemorySink
) -> None:
    """Content blocks sent back as the assistant turn: auto-new, then auto-matched twice."""
    messages: list[Any] = []
    for text in ("hi", "and then?", "thanks"):
        messages.append({"role": "user", "content": text})
        messages.append(await claude(messages, system="be brief"))
    runs = llm_runs(sink)
    assert [r.grouping for r in runs] == ["auto-new", "auto-matched", "auto-matched"]
    assert len({r.conversation_id for r in runs}) == 1
    last = runs[-1]
    assert (last.name, last.source, last.model, last.status) == (
        "anthropic.messages",
        "anthropic",
        MODEL,
        "ok",
    )
    assert last.outputs == {
        "role": "assistant",
        "content": [{"type": "text", "text": "echo #3: thanks"}],
    }
    assert last.inputs["system"] == "be brief"
    assert len(last.inputs["messages"]) == 5
    assert last.usage is not None
    assert last.usage["output_tokens"] == 3
    assert last.usage["total_tokens"] == last.usage["input_tokens"] + 3
    assert dict(last.metadata).get("stream", False) is (claude.how != "create")


async def test_the_system_prompt_is_part_of_the_history(
    claude: Claude, sink: convtrack.MemorySink
) -> None:
    """The same messages under another system prompt are another conversation."""
    messages: list[Any] = [{"role": "user", "content": "hi"}]
    messages += [await claude(messages, system="a"), {"role": "user", "content": "more"}]
    await claude(messages, system="b")
    assert [r.grouping for r in llm_runs(sink)] == ["auto-new", "auto-new"]


async def test_a_tool_use_turn_groups(claude: Claude, sink: convtrack.MemorySink) -> None:
    """A tool_use answer sent back with its tool_result continues the conversation."""
    messages: list[Any] = [{"role": "user", "content": "find x"}]
    if claude.how == "create-stream":
        events = await claude.events(model=MODEL, max_tokens=9, messages=messages, tools=TOOLS)
        block = next(e.content_block for e in events if e.type == "content_block_start")
        arguments = "".join(e.delta.partial_json for e in events if e.type == "content_block_delta")
        tool_use = {"type": "tool_use", "id": block.id, "name": block.name}
        answer = {"role": "assistant", "content": [{**tool_use, "input": eval_json(arguments)}]}
    else:
        answer = await claude(messages, tools=TOOLS)
    tool_use_id = _block(answer["content"][0], "id")
    messages.append(answer)
    result = {"type": "tool_result", "tool_use_id": tool_use_id, "content": "42"}
    messages.append({"role": "user", "content": [result]})
    final = await claude(messages, tools=TOOLS)
    first, second = llm_runs(sink)
    assert first.outputs["content"][0]["input"] == {"query": "find x"}
    assert (second.grouping, second.conversation_id) == ("auto-matched", first.conversation_id)
    assert _block(final["content"], "text") == "tool said: 42"


def eval_json(text: str) -> Any:
    """Parse the JSON of streamed tool arguments."""
    import json

    return json.loads(text)


def _block(content: Any, field: str) -> Any:
    """A field of a content block (SDK object or dict), or the text of the content."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        content = content[0]
    return content[field] if isinstance(content, dict) else getattr(content, field)


async def test_context_id_wins(claude: Claude, sink: convtrack.MemorySink) -> None:
    """Inside a convtrack conversation, the call belongs to it (`context`)."""
    with convtrack.conversation("ctx-a", agent_id="helper"):
        await claude([{"role": "user", "content": "hi"}])
    (run,) = llm_runs(sink)
    assert (run.conversation_id, run.agent_id, run.grouping) == ("ctx-a", "helper", "context")


async def test_metadata_user_id_is_the_runs_user(
    claude: Claude, sink: convtrack.MemorySink
) -> None:
    """`metadata={"user_id": ...}` (the one key the API accepts) is the run's user."""
    await claude([{"role": "user", "content": "hi"}], metadata={"user_id": "u-7"})
    (run,) = llm_runs(sink)
    assert (run.user_id, run.grouping) == ("u-7", "auto-new")


async def test_a_metadata_conversation_id_is_explicit(
    claude: Claude, sink: convtrack.MemorySink
) -> None:
    """A `conversation_id` in metadata (accepted by some gateways) wins over the context."""
    with convtrack.conversation("ctx-a"):
        await claude([{"role": "user", "content": "hi"}], metadata={"conversation_id": "m-1"})
    (run,) = llm_runs(sink)
    assert (run.conversation_id, run.grouping) == ("m-1", "explicit")


async def test_http_error_is_recorded_and_reraised(
    claude: Claude, server: Any, sink: convtrack.MemorySink
) -> None:
    """An API error reaches the caller as the SDK's own type; the run records it."""
    server.fail_next(400, "bad request")
    with pytest.raises(anthropic.BadRequestError) as info:
        await claude([{"role": "user", "content": "hi"}])
    assert info.value.status_code == 400
    (run,) = llm_runs(sink)
    assert run.status == "error"
    assert run.error is not None
    assert run.error.startswith("BadRequestError: ")


async def test_the_exception_object_is_the_sdks_own(
    claude: Claude, sink: convtrack.MemorySink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The very exception object the SDK raised reaches the caller."""
    error = anthropic.APIConnectionError(request=anthropic._base_client.httpx2.Request("POST", "/"))

    def raise_it(*args: Any, **kwargs: Any) -> Any:
        raise error

    async def araise_it(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(claude.client.messages, "_post", araise_it if claude.is_async else raise_it)
    with pytest.raises(anthropic.APIConnectionError) as info:
        await claude([{"role": "user", "content": "hi"}])
    assert info.value is error
    assert llm_runs(sink)[0].status == "error"


async def test_an_error_in_the_middle_of_a_stream(
    streaming_claude: Claude, sink: convtrack.MemorySink
) -> None:
    """A stream failing half-way raises the SDK's error; the run keeps what came before."""
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        await streaming_claude([{"role": "user", "content": "a b [stream-error]"}])
    (run,) = llm_runs(sink)
    assert run.status == "error"
    assert run.outputs == {"role": "assistant", "content": [{"type": "text", "text": "echo "}]}


async def test_uninstrument_stops_recording(claude: Claude, sink: convtrack.MemorySink) -> None:
    """After uninstrument() (twice), calls are not recorded and work as before."""
    convtrack_anthropic.uninstrument()
    convtrack_anthropic.uninstrument()
    answer = await claude([{"role": "user", "content": "hi"}])
    assert llm_runs(sink) == []
    assert _block(answer["content"], "text") == "echo #1: hi"


async def test_unconfigured_calls_are_untouched(claude: Claude) -> None:
    """Without convtrack configured, the client returns its own objects (no proxy)."""
    convtrack_anthropic.instrument()
    kwargs = {"model": MODEL, "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]}
    if claude.how == "stream-helper":
        if isinstance(claude.client, anthropic.AsyncAnthropic):
            async with claude.client.messages.stream(**kwargs) as astream:
                assert type(astream._raw_stream) is anthropic.AsyncStream
                await astream.until_done()
        else:
            with claude.client.messages.stream(**kwargs) as stream:
                assert type(stream._raw_stream) is anthropic.Stream
                stream.until_done()
        return
    result: Any = claude.client.messages.create(stream=claude.how == "create-stream", **kwargs)
    if claude.is_async:
        result = await result
    if claude.how == "create":
        assert type(result) is anthropic.types.Message
    else:
        assert type(result) is (anthropic.AsyncStream if claude.is_async else anthropic.Stream)
        await result.close() if claude.is_async else result.close()


async def test_instrument_through_the_entry_point(claude: Claude) -> None:
    """convtrack.instrument("anthropic") finds the integration by its entry point."""
    sink = convtrack.MemorySink()
    convtrack.configure([sink], export_interval=0.05)
    assert convtrack.instrument("anthropic") == ["anthropic"]
    await claude([{"role": "user", "content": "hi"}])
    assert [r.source for r in llm_runs(sink)] == ["anthropic"]


async def test_convtrack_failure_is_logged_and_the_call_proceeds(
    claude: Claude,
    sink: convtrack.MemorySink,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failure inside convtrack is logged; the user's call returns its answer unchanged."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("convtrack bug")

    monkeypatch.setattr("convtrack._llm.call.decide", broken)
    monkeypatch.setattr("convtrack._llm.call.adecide", broken)
    with caplog.at_level(logging.WARNING, logger="convtrack"):
        answer = await claude([{"role": "user", "content": "hi"}])
    assert _block(answer["content"], "text") == "echo #1: hi"
    assert "anthropic: starting a run failed" in caplog.text
    assert llm_runs(sink) == []
