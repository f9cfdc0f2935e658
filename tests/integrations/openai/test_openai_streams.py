"""Streamed chat completions: the stream is the SDK's, unchanged; its run ends exactly once."""

from __future__ import annotations

import gc
import logging
from typing import Any

import convtrack_openai
import openai
import pytest
from openai.lib.streaming.chat import AsyncChatCompletionStreamManager
from openai_support import MODEL, Reader, llm_runs

import convtrack

HI = [{"role": "user", "content": "one two three four"}]


@pytest.fixture(params=["sync", "async"])
def any_client(
    request: pytest.FixtureRequest, client: openai.OpenAI, aclient: openai.AsyncOpenAI
) -> openai.OpenAI | openai.AsyncOpenAI:
    """The sync and the async client, in turn."""
    return client if request.param == "sync" else aclient


async def create(client: openai.OpenAI | openai.AsyncOpenAI, **kwargs: Any) -> Reader:
    """A streamed `chat.completions.create`, wrapped in a Reader."""
    kwargs = {"model": MODEL, "messages": HI, "stream": True, **kwargs}
    if isinstance(client, openai.AsyncOpenAI):
        return Reader(await client.chat.completions.create(**kwargs))
    return Reader(client.chat.completions.create(**kwargs))


def _dumps(chunks: list[Any]) -> list[dict[str, Any]]:
    return [chunk.model_dump(exclude={"id"}) for chunk in chunks]


async def test_chunks_are_the_same_as_without_convtrack(
    any_client: Any, sink: convtrack.MemorySink
) -> None:
    """The instrumented stream yields the chunks the bare client yields."""
    options = {"stream_options": {"include_usage": True}}
    convtrack_openai.uninstrument()
    bare = await (await create(any_client, **options)).rest()
    convtrack_openai.instrument()
    observed = await (await create(any_client, **options)).rest()
    assert _dumps(observed) == _dumps(bare)
    assert len(llm_runs(sink)) == 1


async def test_the_stream_is_still_the_sdks_stream(
    any_client: Any, sink: convtrack.MemorySink
) -> None:
    """isinstance, attributes, next() and the context manager work as on the SDK's stream."""
    reader = await create(any_client)
    stream = reader.stream
    assert isinstance(stream, openai.AsyncStream if reader.is_async else openai.Stream)
    assert stream.response.status_code == 200
    assert (await reader.next()).choices[0].delta.role == "assistant"
    if reader.is_async:
        async with stream as entered:
            assert entered is stream
            assert len([c async for c in entered]) == 7
    else:
        with stream as entered:
            assert entered is stream
            assert len(list(entered)) == 7
    (run,) = llm_runs(sink)
    assert run.outputs == {"role": "assistant", "content": "echo #1: one two three four"}
    assert "incomplete" not in run.metadata


async def test_closed_half_way_records_the_partial_answer(
    any_client: Any, sink: convtrack.MemorySink
) -> None:
    """close() after two chunks ends the run with what was received, marked incomplete."""
    reader = await create(any_client)
    await reader.next()
    await reader.next()
    assert llm_runs(sink) == []
    await reader.close()
    (run,) = llm_runs(sink)
    assert run.outputs == {"role": "assistant", "content": "echo "}
    assert run.metadata["incomplete"] is True
    assert run.status == "ok"


async def test_leaving_the_with_block_half_way_ends_the_run(
    any_client: Any, sink: convtrack.MemorySink
) -> None:
    """Exiting the stream's context manager early ends the run there."""
    reader = await create(any_client)
    if reader.is_async:
        async with reader.stream as stream:
            await stream.__anext__()
    else:
        with reader.stream as stream:
            next(stream)
    (run,) = llm_runs(sink)
    assert run.metadata["incomplete"] is True


async def test_a_dropped_stream_is_recorded_when_collected(
    any_client: Any, sink: convtrack.MemorySink
) -> None:
    """A stream dropped half-way ends its run on collection; its answer still groups."""
    reader = await create(any_client)
    await reader.next()
    partial = (await reader.next()).choices[0].delta.content
    await _close_response(reader)
    del reader
    gc.collect()
    (run,) = llm_runs(sink)
    assert run.metadata["incomplete"] is True
    history = [*HI, {"role": "assistant", "content": partial}, {"role": "user", "content": "go on"}]
    await _close_response(await create(any_client, messages=history))
    assert llm_runs(sink)[1].grouping == "auto-matched"


async def _close_response(reader: Reader) -> None:
    """Close the HTTP response under a stream (not the stream: no proxy sees this)."""
    if reader.is_async:
        await reader.stream.response.aclose()
    else:
        reader.stream.response.close()


async def test_breaking_out_of_a_loop_does_not_end_the_run(
    any_client: Any, sink: convtrack.MemorySink
) -> None:
    """A `for` loop left early can be resumed: the run ends when the stream is exhausted."""
    reader = await create(any_client)
    if reader.is_async:
        async for _ in reader.stream:
            break
    else:
        for _ in reader.stream:
            break
    gc.collect()
    assert llm_runs(sink) == []
    await reader.rest()
    (run,) = llm_runs(sink)
    assert "incomplete" not in run.metadata
    assert run.outputs["content"] == "echo #1: one two three four"


async def test_a_failing_accumulator_leaves_the_stream_intact(
    any_client: Any,
    sink: convtrack.MemorySink,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """If convtrack cannot read a chunk, the caller still gets every chunk; it is logged."""

    def broken(self: Any, chunk: Any) -> None:
        raise ValueError("odd chunk")

    monkeypatch.setattr("convtrack_openai._chat.ChatAccumulator.observe", broken)
    with caplog.at_level(logging.WARNING, logger="convtrack"):
        chunks = await (await create(any_client)).rest()
    assert len(chunks) == 8
    assert "reading a stream item failed" in caplog.text
    assert len(llm_runs(sink)) == 1


async def test_error_in_the_middle_of_a_stream(any_client: Any, sink: convtrack.MemorySink) -> None:
    """A stream failing half-way raises the SDK's error; the run keeps what came before."""
    reader = await create(any_client, messages=[{"role": "user", "content": "a b [stream-error]"}])
    with pytest.raises(openai.APIError, match="stream failed"):
        await reader.rest()
    (run,) = llm_runs(sink)
    assert run.status == "error"
    assert run.outputs == {"role": "assistant", "content": "echo "}


@pytest.fixture
def helper_stream(any_client: Any, sink: convtrack.MemorySink) -> Any:
    """`chat.completions.stream(...)` (instrumented): the SDK's helper manager."""
    return any_client.chat.completions.stream(model=MODEL, messages=HI)


async def test_the_stream_helper_works_and_is_recorded(
    helper_stream: Any, sink: convtrack.MemorySink
) -> None:
    """`.stream()` gives the SDK's ChatCompletionStream; the run has the final answer."""
    if isinstance(helper_stream, AsyncChatCompletionStreamManager):
        async with helper_stream as stream:
            completion = await stream.get_final_completion()
    else:
        with helper_stream as stream:
            completion = stream.get_final_completion()
    assert completion.choices[0].message.content == "echo #1: one two three four"
    (run,) = llm_runs(sink)
    assert run.outputs == {"role": "assistant", "content": "echo #1: one two three four"}
    assert run.metadata["stream"] is True


async def test_leaving_the_stream_helper_early_ends_the_run(
    helper_stream: Any, sink: convtrack.MemorySink
) -> None:
    """Leaving `with client.chat.completions.stream(...)` early ends the run at once."""
    if isinstance(helper_stream, AsyncChatCompletionStreamManager):
        async with helper_stream as stream:
            async for event in stream:
                if event.type == "content.delta" and event.delta:
                    break
    else:
        with helper_stream as stream:
            for event in stream:
                if event.type == "content.delta" and event.delta:
                    break
    (run,) = llm_runs(sink)
    assert run.metadata["incomplete"] is True
    assert run.outputs == {"role": "assistant", "content": "echo "}
