"""chat.completions: conversations, runs and the unchanged client, in the four call modes."""

from __future__ import annotations

import logging
from typing import Any

import convtrack_openai
import openai
import pytest
from openai_support import MODEL, Chat, llm_runs

import convtrack
from convtrack import _resolve
from convtrack._handle import RunHandle
from convtrack._start import start_run
from convtrack.grouping import ConversationGrouper


async def test_three_turns_with_no_ids_land_in_one_conversation(
    chat: Chat, sink: convtrack.MemorySink
) -> None:
    """Turn N resends turn N-1's history: auto-new, then auto-matched twice, one conversation."""
    messages: list[Any] = [{"role": "system", "content": "be brief"}]
    for text in ("hi", "and then?", "thanks"):
        messages.append({"role": "user", "content": text})
        messages.append(await chat(messages))
    runs = llm_runs(sink)
    assert [r.grouping for r in runs] == ["auto-new", "auto-matched", "auto-matched"]
    assert len({r.conversation_id for r in runs}) == 1
    last = runs[-1]
    assert (last.kind, last.name, last.source, last.status) == (
        "llm",
        "openai.chat.completions",
        "openai",
        "ok",
    )
    assert last.model == MODEL
    assert last.outputs == {"role": "assistant", "content": "echo #3: thanks"} | (
        {} if chat.stream else {"annotations": []}
    )
    assert last.inputs["messages"][0] == {"role": "system", "content": "be brief"}
    assert len(last.inputs["messages"]) == 6
    assert last.usage is not None
    assert last.usage["output_tokens"] == 3
    assert last.usage["total_tokens"] == last.usage["input_tokens"] + 3
    assert dict(last.metadata).get("stream", False) is chat.stream


async def test_interleaved_chats_stay_apart(chat: Chat, sink: convtrack.MemorySink) -> None:
    """Two chats whose turns alternate are two conversations, each matched turn after turn."""
    first: list[Any] = [{"role": "user", "content": "first chat"}]
    second: list[Any] = [{"role": "user", "content": "second chat"}]
    for turn in range(2):
        for history in (first, second):
            history.append(await chat(history))
            history.append({"role": "user", "content": f"more {turn}"})
    runs = llm_runs(sink)
    assert [r.grouping for r in runs] == ["auto-new"] * 2 + ["auto-matched"] * 2
    assert runs[0].conversation_id == runs[2].conversation_id
    assert runs[1].conversation_id == runs[3].conversation_id
    assert runs[0].conversation_id != runs[1].conversation_id


async def test_context_id_wins_over_grouping(chat: Chat, sink: convtrack.MemorySink) -> None:
    """Inside a convtrack conversation, the call belongs to it (`context`)."""
    with convtrack.conversation("ctx-1", user_id="alice"):
        await chat([{"role": "user", "content": "hi"}])
    (run,) = llm_runs(sink)
    assert (run.conversation_id, run.user_id, run.grouping) == ("ctx-1", "alice", "context")


async def test_metadata_id_wins_over_context(chat: Chat, sink: convtrack.MemorySink) -> None:
    """Request metadata `conversation_id`/`agent_id`/`user_id` win (`explicit`)."""
    metadata = {"conversation_id": "meta-1", "agent_id": "agent-x", "user_id": "bob"}
    with convtrack.conversation("ctx-1", user_id="alice"):
        await chat([{"role": "user", "content": "hi"}], metadata=metadata)
    (run,) = llm_runs(sink)
    assert (run.conversation_id, run.agent_id, run.user_id) == ("meta-1", "agent-x", "bob")
    assert run.grouping == "explicit"


async def test_parent_run_conversation_and_parent(chat: Chat, sink: convtrack.MemorySink) -> None:
    """A call inside a traced step is its child and shares its conversation."""
    with convtrack.conversation("ctx-2"), convtrack.trace("step") as step:
        await chat([{"role": "user", "content": "hi"}])
    (run,) = llm_runs(sink)
    assert run.parent_run_id == step.run_id
    assert run.conversation_id == "ctx-2"


async def test_http_error_is_recorded_and_reraised(chat: Chat, sink: convtrack.MemorySink) -> None:
    """An API error reaches the caller as the SDK's own type; the run records it."""
    with pytest.raises(openai.RateLimitError) as info:
        await chat([{"role": "user", "content": "hi [fail:429]"}])
    assert info.value.status_code == 429
    (run,) = llm_runs(sink)
    assert run.status == "error"
    assert run.error is not None
    assert run.error.startswith("RateLimitError: ")


async def test_the_exception_object_is_the_sdks_own(
    chat: Chat, sink: convtrack.MemorySink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The very exception object the SDK raised reaches the caller."""
    http = getattr(openai._base_client, "httpx2", None) or openai._base_client.httpx  # 3.x: httpx2
    error = openai.APIConnectionError(request=http.Request("POST", "/x"))

    def raise_it(*args: Any, **kwargs: Any) -> Any:
        raise error

    async def araise_it(*args: Any, **kwargs: Any) -> Any:
        raise error

    completions = chat.client.chat.completions
    monkeypatch.setattr(completions, "_post", araise_it if chat.is_async else raise_it)
    with pytest.raises(openai.APIConnectionError) as info:
        await chat([{"role": "user", "content": "hi"}])
    assert info.value is error
    assert llm_runs(sink)[0].error == "APIConnectionError: Connection error."


async def test_uninstrument_stops_recording(chat: Chat, sink: convtrack.MemorySink) -> None:
    """After uninstrument() (twice), calls are not recorded and work as before."""
    convtrack_openai.uninstrument()
    convtrack_openai.uninstrument()
    answer = await chat([{"role": "user", "content": "hi"}])
    assert llm_runs(sink) == []
    assert (answer["content"] if isinstance(answer, dict) else answer.content) == "echo #1: hi"


async def test_instrument_twice_records_once(chat: Chat, sink: convtrack.MemorySink) -> None:
    """instrument() twice wraps once: one run per call."""
    convtrack_openai.instrument()
    await chat([{"role": "user", "content": "hi"}])
    assert len(llm_runs(sink)) == 1


async def test_unconfigured_calls_are_untouched(chat: Chat) -> None:
    """Without convtrack configured, the client returns its own objects (no proxy)."""
    convtrack_openai.instrument()
    result = await chat.create(messages=[{"role": "user", "content": "hi"}])
    expected = (openai.AsyncStream if chat.is_async else openai.Stream) if chat.stream else None
    if expected is None:
        assert type(result) is openai.types.chat.ChatCompletion
    else:
        assert type(result) is expected
        await result.close() if chat.is_async else result.close()


async def test_capture_content_off_keeps_usage_only(chat: Chat) -> None:
    """With capture_content=False, runs carry model and usage but no messages."""
    sink = convtrack.MemorySink()
    convtrack.configure([sink], capture_content=False, export_interval=0.05)
    convtrack_openai.instrument()
    history: list[Any] = [{"role": "user", "content": "hi"}]
    history += [await chat(history), {"role": "user", "content": "more"}]
    await chat(history)
    runs = llm_runs(sink)
    assert [(r.inputs, r.outputs) for r in runs] == [(None, None), (None, None)]
    assert runs[1].grouping == "auto-matched"
    assert runs[1].usage is not None


async def test_convtrack_failure_is_logged_and_the_call_proceeds(
    chat: Chat,
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
        answer = await chat([{"role": "user", "content": "hi"}])
    assert (answer["content"] if isinstance(answer, dict) else answer.content) == "echo #1: hi"
    assert "openai: starting a run failed" in caplog.text
    assert llm_runs(sink) == []


async def test_a_failing_grouping_store_starts_new_conversations(
    chat: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    """A grouping store that raises costs grouping only: calls work, runs are auto-new."""

    class DownStore:
        def claim(self, keys: Any) -> Any:
            raise ConnectionError("store down")

        peek = claim

        def put(self, key: str, value: str, ttl: float) -> None:
            raise ConnectionError("store down")

    from convtrack.grouping import ConversationGrouper

    sink = convtrack.MemorySink()
    grouper = ConversationGrouper(DownStore(), secret="s")
    convtrack.configure([sink], grouping=grouper, export_interval=0.05)
    convtrack_openai.instrument()
    history: list[Any] = [{"role": "user", "content": "hi"}]
    with caplog.at_level(logging.WARNING, logger="convtrack"):
        history += [await chat(history), {"role": "user", "content": "more"}]
        await chat(history)
    assert [r.grouping for r in llm_runs(sink)] == ["auto-new", "auto-new"]
    assert "store down" in caplog.text


async def test_tool_calls_are_recorded_and_their_turn_groups(
    chat: Chat, sink: convtrack.MemorySink
) -> None:
    """A tool-call answer (streamed or not) is recorded and the tool turn continues it."""
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    history: list[Any] = [{"role": "user", "content": "find x"}]
    if chat.stream:
        chunks = await chat.chunks(model=MODEL, messages=history, tools=tools)
        deltas = [c.choices[0].delta for c in chunks if c.choices and c.choices[0].delta.tool_calls]
        call_id = deltas[0].tool_calls[0].id
        arguments = "".join(d.tool_calls[0].function.arguments for d in deltas)
        call = {"id": call_id, "type": "function"}
        call["function"] = {"name": "lookup", "arguments": arguments}
        history.append({"role": "assistant", "content": None, "tool_calls": [call]})
    else:
        message = await chat(history, tools=tools)
        call_id = message.tool_calls[0].id
        history.append(message)
    history.append({"role": "tool", "tool_call_id": call_id, "content": "42"})
    assert (await chat(history, tools=tools)) is not None
    first, second = llm_runs(sink)
    assert first.outputs["tool_calls"][0]["function"] == {
        "name": "lookup",
        "arguments": '{"query": "find x"}',
    }
    assert second.grouping == "auto-matched"
    assert second.conversation_id == first.conversation_id


async def test_instrument_through_the_entry_point(chat: Chat) -> None:
    """convtrack.instrument("openai") finds the integration by its entry point."""
    sink = convtrack.MemorySink()
    convtrack.configure([sink], export_interval=0.05)
    assert convtrack.instrument("openai") == ["openai"]
    await chat([{"role": "user", "content": "hi"}])
    assert [r.source for r in llm_runs(sink)] == ["openai"]
    assert convtrack.uninstrument("openai") == ["openai"]


def test_raw_response_calls_are_recorded(client: openai.OpenAI, sink: convtrack.MemorySink) -> None:
    """`with_raw_response` still returns the raw response; the run has its answer."""
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.parse().choices[0].message.content == "echo #1: hi"
    (run,) = llm_runs(sink)
    assert run.outputs["content"] == "echo #1: hi"


def test_messages_that_are_not_a_list_are_passed_through(
    client: openai.OpenAI, sink: convtrack.MemorySink
) -> None:
    """A generator of messages reaches the SDK unconsumed; the run has no grouping."""
    messages = ({"role": "user", "content": text} for text in ["hi"])
    completion = client.chat.completions.create(model=MODEL, messages=messages)
    assert completion.choices[0].message.content == "echo #1: hi"
    (run,) = llm_runs(sink)
    assert run.grouping == "none"


def test_resolve_is_the_one_decision_point(
    client: openai.OpenAI, sink: convtrack.MemorySink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The integration asks the core's decide() for the conversation."""
    seen: list[dict[str, Any]] = []
    real = _resolve.decide

    def spy(**kwargs: Any) -> Any:
        seen.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr("convtrack._llm.call.decide", spy)
    client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], metadata={"agent_id": "a"}
    )
    assert seen[0]["agent_id"] == "a"
    assert seen[0]["messages"] == [{"role": "user", "content": "hi"}]


@pytest.fixture
def remembered(sink: convtrack.MemorySink) -> list[str]:
    """Conversations the grouper is asked to remember, in order."""
    calls: list[str] = []
    grouper = ConversationGrouper(secret="s")
    original = grouper.remember

    def counting(history: Any, conversation_id: str, **kwargs: Any) -> None:
        calls.append(conversation_id)
        original(history, conversation_id, **kwargs)

    grouper.remember = counting  # type: ignore[method-assign]
    convtrack.configure([sink], grouping=grouper, export_interval=0.05)
    return calls


def test_a_call_inside_a_grouped_llm_run_takes_its_conversation_and_remembers_nothing(
    client: openai.OpenAI, sink: convtrack.MemorySink, remembered: list[str]
) -> None:
    """Inside an LLM run grouped already (a LangChain chat model's), the SDK call is its child in
    its conversation, and the turn is not remembered twice (the outer integration does it)."""
    outer = start_run(
        "llm",
        "chat-model",
        source="langchain",
        decision=_resolve.Decision("c1", None, None, "auto-new"),
    )
    assert outer is not None
    token = outer.activate()
    try:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    finally:
        RunHandle.deactivate(token)
    outer.end()
    convtrack.flush()
    inner = next(r for r in sink.runs if r.source == "openai")
    assert (inner.parent_run_id, inner.conversation_id) == (outer.run_id, "c1")
    assert remembered == []


def test_a_call_inside_an_undecided_llm_step_is_grouped_and_remembered(
    client: openai.OpenAI, sink: convtrack.MemorySink, remembered: list[str]
) -> None:
    """A traced `llm` step outside any conversation decides nothing: its SDK call groups itself."""

    @convtrack.trace(kind="llm")
    def model_step(messages: list[Any]) -> Any:
        return client.chat.completions.create(model=MODEL, messages=messages)

    model_step([{"role": "user", "content": "hi"}])
    convtrack.flush()
    inner, step = sink.runs
    assert inner.parent_run_id == step.run_id
    assert inner.grouping == "auto-new"
    assert remembered == [inner.conversation_id]
