"""A multi-turn app on LlamaIndex (a chat engine and a function agent sharing each user's
memory, llama-index-llms-openai's model), two users interleaved, sync and async.

Runs in .ci/frameworks' venv: llama-index-llms-openai needs openai<3, beside the main pins.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import convtrack_openai
import pytest
from frameworks_support import (
    TURNS,
    USERS,
    check_model_calls,
    check_one_conversation_per_user,
    conversations_of,
    expected_results,
    llm_runs,
    prompt,
    user_in,
)

import convtrack
from convtrack.fake_llm import FakeLLMServer
from convtrack.testing import CapturedRuns

if not os.environ.get("CONVTRACK_REQUIRE_FRAMEWORKS"):  # set by .ci/frameworks: no skip there
    pytest.importorskip("llama_index.llms.openai", reason="installed by .ci/frameworks only")
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.memory import BaseMemory, ChatMemoryBuffer, Memory
from llama_index.core.storage.chat_store import SimpleChatStore
from llama_index.core.tools import FunctionTool
from llama_index.llms.openai import OpenAI
from sqlalchemy.ext.asyncio import create_async_engine

# LlamaIndex's workflows read deprecated pydantic attributes (the suite turns warnings into errors)
pytestmark = pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecationWarning")

REQUESTS = 8  # per user: a plain turn, a tool turn (two calls), a streamed turn
IDS = [pytest.param(False, id="no-ids"), pytest.param(True, id="memory-ids")]
App = Callable[[FakeLLMServer, bool], dict[str, list[str]]]


def lookup(query: str) -> str:
    """Look the query up."""
    return f"found {query}"


def model(server: FakeLLMServer) -> OpenAI:
    """LlamaIndex's OpenAI model on the fake server."""
    # the usage of streamed answers too (what an app counting tokens asks for)
    usage = {"stream_options": {"include_usage": True}}
    return OpenAI(
        model="gpt-4o-mini",
        api_base=server.openai_base_url,
        api_key="test",
        max_retries=0,
        additional_kwargs=usage,
    )


def agent_of(llm: OpenAI) -> FunctionAgent:
    """The agent of the tool turns (its model calls streamed)."""
    return FunctionAgent(tools=[FunctionTool.from_defaults(lookup)], llm=llm)


def chat_engines(llm: OpenAI, memories: dict[str, Any]) -> dict[str, SimpleChatEngine]:
    """Each user's chat engine, on the user's memory."""
    return {user: SimpleChatEngine.from_defaults(llm=llm, memory=m) for user, m in memories.items()}


def sync_app(server: FakeLLMServer, ids: bool) -> dict[str, list[str]]:
    """Each user's three turns, interleaved, through `chat`, the agent and `stream_chat` (read
    in LlamaIndex's thread), on a `ChatMemoryBuffer`; what the app got back. `ids`: each
    user's memory has a `chat_store_key` in one chat store, and each turn runs inside
    `convtrack.conversation(chat_store_key)` (the README's recipe)."""
    llm, store = model(server), SimpleChatStore()
    agent = agent_of(llm)
    memories = {
        user: ChatMemoryBuffer.from_defaults(chat_store=store, chat_store_key=f"{user}-chat")
        if ids
        else ChatMemoryBuffer.from_defaults()
        for user in USERS
    }
    engines = chat_engines(llm, memories)
    results: dict[str, list[str]] = {user: [] for user in USERS}
    for turn, kind in enumerate(TURNS):
        for user in USERS:
            memory, text = memories[user], prompt(user, turn)
            scope = convtrack.conversation(memory.chat_store_key) if ids else nullcontext()
            with scope:
                if kind == "stream":
                    streamed = engines[user].stream_chat(text)
                    answer = "".join(streamed.response_gen)
                elif kind == "tool":
                    answer = str(asyncio.run(_run_agent(agent, text, memory)))
                else:
                    answer = engines[user].chat(text).response
            results[user].append(answer)
    return results


async def _run_agent(agent: FunctionAgent, text: str, memory: BaseMemory) -> object:
    """The agent's turn: a tool call, then the answer."""
    return await agent.run(text, memory=memory)


def async_app(server: FakeLLMServer, ids: bool) -> dict[str, list[str]]:
    """The same turns through `achat`, the agent and `astream_chat`, on a `Memory` (SQLite):
    `ids`: its `session_id`, each turn inside `convtrack.conversation(session_id)`."""
    return asyncio.run(_async_app(server, ids))


async def _async_app(server: FakeLLMServer, ids: bool) -> dict[str, list[str]]:
    llm, store = model(server), create_async_engine("sqlite+aiosqlite:///:memory:")
    agent = agent_of(llm)
    memories = {
        user: Memory.from_defaults(session_id=f"{user}-chat" if ids else None, async_engine=store)
        for user in USERS
    }
    engines = chat_engines(llm, memories)
    results: dict[str, list[str]] = {user: [] for user in USERS}
    try:
        for turn, kind in enumerate(TURNS):
            for user in USERS:
                memory, text = memories[user], prompt(user, turn)
                scope = convtrack.conversation(memory.session_id) if ids else nullcontext()
                with scope:
                    if kind == "stream":
                        streamed = await engines[user].astream_chat(text)
                        answer = "".join([delta async for delta in streamed.async_response_gen()])
                    elif kind == "tool":
                        answer = str(await agent.run(text, memory=memory))
                    else:
                        answer = (await engines[user].achat(text)).response
                results[user].append(answer)
    finally:
        await store.dispose()
    return results


APPS = [pytest.param(sync_app, id="sync"), pytest.param(async_app, id="async")]


@pytest.mark.parametrize("ids", IDS)
@pytest.mark.parametrize("app", APPS)
def test_without_convtrack_the_app_gets_its_answers(
    app: App, ids: bool, server: FakeLLMServer, captured: CapturedRuns
) -> None:
    """The app's answers with nothing instrumented (the reference for the other tests)."""
    assert app(server, ids) == expected_results()
    assert not captured.runs


@pytest.mark.parametrize("ids", IDS)
@pytest.mark.parametrize("app", APPS)
def test_with_the_openai_sdk_instrumented(
    app: App, ids: bool, server: FakeLLMServer, captured: CapturedRuns
) -> None:
    """convtrack-openai: every model call once with its answer, one conversation a user (the
    memory's `chat_store_key` or `session_id` the turn runs in, when the app ties it)."""
    convtrack_openai.instrument()
    assert app(server, ids) == expected_results()
    runs = list(captured.runs)
    check_model_calls(runs, REQUESTS)
    named = {user: f"{user}-chat" for user in USERS} if ids else None
    check_one_conversation_per_user(conversations_of(llm_runs(runs), user_in), named)


@pytest.mark.parametrize("ids", IDS)
@pytest.mark.parametrize("app", APPS)
def test_with_everything_instrumented(
    app: App, ids: bool, server: FakeLLMServer, captured: CapturedRuns
) -> None:
    """Every installed integration and threads too: the same calls, once each, in the same
    conversations, nothing else recorded."""
    convtrack.instrument()
    convtrack.instrument_threading()
    assert app(server, ids) == expected_results()
    runs = list(captured.runs)
    check_model_calls(runs, REQUESTS)
    assert len(runs) == REQUESTS
    named = {user: f"{user}-chat" for user in USERS} if ids else None
    check_one_conversation_per_user(conversations_of(runs, user_in), named)
