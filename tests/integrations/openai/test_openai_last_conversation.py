"""`convtrack.last_conversation_id()`: the conversation the last LLM call here joined."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import openai

import convtrack
from convtrack.fake_llm import FakeLLMServer

MODEL = "gpt-test"


def _ask(client: openai.OpenAI, history: list[Any]) -> list[Any]:
    answer = client.chat.completions.create(model=MODEL, messages=history)
    return [*history, answer.choices[0].message.model_dump(exclude_none=True)]


def test_an_automatically_grouped_call_tells_its_conversation(
    client: openai.OpenAI, sink: convtrack.MemorySink
) -> None:
    """With no id anywhere, the app learns which conversation each turn joined."""
    assert convtrack.last_conversation_id() is None
    history = _ask(client, [{"role": "user", "content": "hi"}])
    first = convtrack.last_conversation_id()
    history = _ask(client, [*history, {"role": "user", "content": "and then?"}])
    assert convtrack.last_conversation_id() == first
    _ask(client, [{"role": "user", "content": "another chat"}])
    other = convtrack.last_conversation_id()
    convtrack.flush()
    assert [run.conversation_id for run in sink.runs] == [first, first, other]
    assert first is not None
    assert other not in (None, first)


def test_an_explicit_or_context_id_is_told_too(
    client: openai.OpenAI, sink: convtrack.MemorySink
) -> None:
    """A request metadata id, or the current conversation, is what it returns."""
    client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "x"}],
        metadata={"conversation_id": "ticket-9"},
        store=True,
    )
    assert convtrack.last_conversation_id() == "ticket-9"
    with convtrack.conversation("chat-1"):
        _ask(client, [{"role": "user", "content": "y"}])
    assert convtrack.last_conversation_id() == "chat-1"


def test_a_call_in_another_thread_or_task_does_not_change_it_here(
    client: openai.OpenAI, server: FakeLLMServer, sink: convtrack.MemorySink
) -> None:
    """Each context keeps its own: another thread's or task's call is not this one's."""
    with convtrack.conversation("mine"):
        _ask(client, [{"role": "user", "content": "mine"}])

    def elsewhere() -> None:
        with convtrack.conversation("theirs"):
            _ask(client, [{"role": "user", "content": "theirs"}])

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()

    async def in_a_task() -> str | None:
        async with openai.AsyncOpenAI(
            base_url=server.openai_base_url, api_key="test", max_retries=0
        ) as aclient:
            with convtrack.conversation("task"):
                await aclient.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": "task"}]
                )
        return convtrack.last_conversation_id()

    assert asyncio.run(in_a_task()) == "task"
    assert convtrack.last_conversation_id() == "mine"


def test_nothing_is_told_when_not_recording(client: openai.OpenAI) -> None:
    """Before configure(), no run starts and nothing is told."""
    _ask(client, [{"role": "user", "content": "hi"}])
    assert convtrack.last_conversation_id() is None
