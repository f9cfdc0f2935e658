"""Anthropic streams: the SDK's stream and its helpers, unchanged; the run ends once."""

from __future__ import annotations

import gc
from typing import Any

import anthropic
import convtrack_anthropic
import pytest
from anthropic.lib.streaming import AsyncMessageStream, MessageStream
from anthropic_support import MODEL, llm_runs

import convtrack

KWARGS: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "one two three four"}],
}
ANSWER = "echo #1: one two three four"


@pytest.fixture(params=["sync", "async"])
def any_client(
    request: pytest.FixtureRequest, client: anthropic.Anthropic, aclient: anthropic.AsyncAnthropic
) -> anthropic.Anthropic | anthropic.AsyncAnthropic:
    """The sync and the async client, in turn."""
    return client if request.param == "sync" else aclient


def _dumps(events: list[Any]) -> list[dict[str, Any]]:
    dumped = [event.model_dump() for event in events]
    for event in dumped:
        if event["type"] == "message_start":
            del event["message"]["id"]
        if event["type"] == "message_stop" and "message" in event:
            del event["message"]["id"]
    return dumped


async def _raw_events(client: Any) -> list[Any]:
    if isinstance(client, anthropic.AsyncAnthropic):
        return [e async for e in await client.messages.create(stream=True, **KWARGS)]
    return list(client.messages.create(stream=True, **KWARGS))


async def _helper_events(client: Any) -> tuple[list[Any], Any]:
    if isinstance(client, anthropic.AsyncAnthropic):
        async with client.messages.stream(**KWARGS) as astream:
            return [e async for e in astream], await astream.get_final_message()
    with client.messages.stream(**KWARGS) as stream:
        return list(stream), stream.get_final_message()


async def test_events_are_the_same_as_without_convtrack(
    any_client: Any, sink: convtrack.MemorySink
) -> None:
    """Raw events and the helper's events are those the bare client yields."""
    convtrack_anthropic.uninstrument()
    bare_raw = await _raw_events(any_client)
    bare_helper, bare_final = await _helper_events(any_client)
    convtrack_anthropic.instrument()
    raw = await _raw_events(any_client)
    helper, final = await _helper_events(any_client)
    assert _dumps(raw) == _dumps(bare_raw)
    assert _dumps(helper) == _dumps(bare_helper)
    assert final.model_dump(exclude={"id"}) == bare_final.model_dump(exclude={"id"})
    assert len(llm_runs(sink)) == 2


async def test_the_stream_helpers_methods_work(any_client: Any, sink: convtrack.MemorySink) -> None:
    """text_stream, get_final_text/message, current_message_snapshot, request_id all work."""
    if isinstance(any_client, anthropic.AsyncAnthropic):
        async with any_client.messages.stream(**KWARGS) as astream:
            assert isinstance(astream, AsyncMessageStream)
            texts = [text async for text in astream.text_stream]
            assert await astream.get_final_text() == ANSWER
            snapshot = astream.current_message_snapshot
            request_id = astream.request_id
    else:
        with any_client.messages.stream(**KWARGS) as stream:
            assert isinstance(stream, MessageStream)
            texts = list(stream.text_stream)
            assert stream.get_final_text() == ANSWER
            snapshot = stream.current_message_snapshot
            request_id = stream.request_id
    assert "".join(texts) == ANSWER
    assert snapshot.content[0].text == ANSWER
    assert request_id == "req_fake"
    (run,) = llm_runs(sink)
    assert run.outputs == {"role": "assistant", "content": [{"type": "text", "text": ANSWER}]}
    assert "incomplete" not in run.metadata


async def test_leaving_the_stream_helper_early_records_the_partial_answer(
    any_client: Any, sink: convtrack.MemorySink
) -> None:
    """Breaking out of text_stream and leaving the `with` block ends the run there."""
    if isinstance(any_client, anthropic.AsyncAnthropic):
        async with any_client.messages.stream(**KWARGS) as astream:
            async for _ in astream.text_stream:
                break
    else:
        with any_client.messages.stream(**KWARGS) as stream:
            for _ in stream.text_stream:
                break
    (run,) = llm_runs(sink)
    assert run.metadata["incomplete"] is True
    assert run.outputs == {"role": "assistant", "content": [{"type": "text", "text": "echo "}]}


async def test_a_raw_stream_closed_half_way(any_client: Any, sink: convtrack.MemorySink) -> None:
    """close() after a few events ends the run with what was received."""
    if isinstance(any_client, anthropic.AsyncAnthropic):
        astream = await any_client.messages.create(stream=True, **KWARGS)
        for _ in range(3):
            await astream.__anext__()
        assert llm_runs(sink) == []
        await astream.close()
    else:
        stream = any_client.messages.create(stream=True, **KWARGS)
        for _ in range(3):
            next(stream)
        assert llm_runs(sink) == []
        stream.close()
    (run,) = llm_runs(sink)
    assert run.metadata["incomplete"] is True
    assert run.outputs["content"] == [{"type": "text", "text": "echo "}]
    assert run.usage == {
        "input_tokens": 7,
        "output_tokens": 1,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "total_tokens": 8,
    }


async def test_a_dropped_helper_stream_is_recorded_when_collected(
    client: anthropic.Anthropic, sink: convtrack.MemorySink
) -> None:
    """A MessageStream dropped unfinished (no `with`) ends its run when collected."""
    manager = client.messages.stream(**KWARGS)
    stream = manager.__enter__()
    next(iter(stream.text_stream))
    stream.response.close()
    del manager, stream
    gc.collect()
    (run,) = llm_runs(sink)
    assert run.metadata["incomplete"] is True


async def test_content_block_dumps_sent_back_still_group(
    any_client: Any, sink: convtrack.MemorySink
) -> None:
    """The final message's blocks sent back as dicts (model_dump) match the streamed answer."""
    _, final = await _helper_events(any_client)
    messages = [
        *KWARGS["messages"],
        {"role": "assistant", "content": [block.model_dump() for block in final.content]},
        {"role": "user", "content": "more"},
    ]
    if isinstance(any_client, anthropic.AsyncAnthropic):
        await any_client.messages.create(**{**KWARGS, "messages": messages})
    else:
        any_client.messages.create(**{**KWARGS, "messages": messages})
    assert [r.grouping for r in llm_runs(sink)] == ["auto-new", "auto-matched"]
