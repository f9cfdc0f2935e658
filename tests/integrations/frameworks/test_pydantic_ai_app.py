"""A multi-turn app on pydantic-ai (its OpenAI models), two users interleaved."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import convtrack_openai
import convtrack_pydantic_ai
import openai
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
    users_by_tree,
)
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.openai import OpenAIProvider

import convtrack
from convtrack.fake_llm import FakeLLMServer
from convtrack.testing import CapturedRuns

pytest.importorskip("pydantic_ai")  # pydantic-ai needs Python 3.11


REQUESTS = 8  # per user: a plain turn, a tool turn (two calls), a streamed turn
MODELS = [
    pytest.param(OpenAIChatModel, id="chat"),
    pytest.param(OpenAIResponsesModel, id="responses"),
]
IDS = [pytest.param(False, id="no-ids"), pytest.param(True, id="conversation-ids")]


def lookup(query: str) -> str:
    """Look the query up."""
    return f"found {query}"


async def pydantic_ai_app(
    server: FakeLLMServer, model_type: Any, ids: bool, recipe: bool = False
) -> dict[str, list[Any]]:
    """Each user's three turns, interleaved; what the app got back. `recipe`: each run inside
    `convtrack.conversation(conversation_id)` (integrations/README.md)."""
    async with openai.AsyncOpenAI(
        base_url=server.openai_base_url, api_key="test", max_retries=0
    ) as client:
        model = model_type("gpt-test", provider=OpenAIProvider(openai_client=client))
        chat = Agent(model, instructions="Be brief.")
        helper = Agent(model, instructions="Be brief.", tools=[lookup])
        histories: dict[str, list[Any]] = {user: [] for user in USERS}
        results: dict[str, list[Any]] = {user: [] for user in USERS}
        for turn, kind in enumerate(TURNS):
            for user in USERS:
                extra = {"conversation_id": f"{user}-chat"} if ids else {}
                text, history = prompt(user, turn), histories[user]
                scope = convtrack.conversation(f"{user}-chat") if recipe else nullcontext()
                with scope:
                    await _turn(chat, helper, kind, text, history, extra, results[user])
                    histories[user] = results[user].pop()
        return results


async def _turn(
    chat: Agent, helper: Agent, kind: str, text: str, history: list[Any], extra: Any, out: list[Any]
) -> None:
    """One turn: appends the answer, then the new history (popped by the caller)."""
    if kind == "stream":
        async with chat.run_stream(text, message_history=history, **extra) as stream:
            deltas = [delta async for delta in stream.stream_text(delta=True)]
        out.extend(["".join(deltas), stream.all_messages()])
    else:
        agent = helper if kind == "tool" else chat
        result = await agent.run(text, message_history=history, **extra)
        out.extend([result.output, result.all_messages()])


@pytest.mark.parametrize("ids", IDS)
@pytest.mark.parametrize("model_type", MODELS)
async def test_without_convtrack_the_app_gets_its_answers(
    model_type: Any, ids: bool, server: FakeLLMServer, captured: CapturedRuns
) -> None:
    """The app's answers with nothing instrumented (the reference for the other test)."""
    assert await pydantic_ai_app(server, model_type, ids) == expected_results()
    assert not captured.runs


@pytest.mark.parametrize("ids", IDS)
@pytest.mark.parametrize("model_type", MODELS)
async def test_with_the_openai_sdk_instrumented(
    model_type: Any, ids: bool, server: FakeLLMServer, captured: CapturedRuns
) -> None:
    """convtrack-openai: every model call once with its answer, one conversation a user."""
    convtrack_openai.instrument()
    assert await pydantic_ai_app(server, model_type, ids) == expected_results()
    runs = list(captured.runs)
    check_model_calls(runs, REQUESTS)
    check_one_conversation_per_user(conversations_of(llm_runs(runs), user_in), None)


@pytest.mark.parametrize("model_type", MODELS)
async def test_its_conversation_id_through_convtrack_conversation(
    model_type: Any, server: FakeLLMServer, captured: CapturedRuns
) -> None:
    """The README's recipe: a run inside `convtrack.conversation(id)` is in pydantic-ai's."""
    convtrack_openai.instrument()
    assert await pydantic_ai_app(server, model_type, True, recipe=True) == expected_results()
    runs = list(captured.runs)
    check_model_calls(runs, REQUESTS)
    named = {user: f"{user}-chat" for user in USERS}
    check_one_conversation_per_user(conversations_of(llm_runs(runs), user_in), named)


@pytest.mark.parametrize("ids", IDS)
@pytest.mark.parametrize("model_type", MODELS)
async def test_with_everything_instrumented(
    model_type: Any, ids: bool, server: FakeLLMServer, captured: CapturedRuns
) -> None:
    """With convtrack-pydantic-ai too: each agent run in pydantic-ai's conversation id (the
    app's when it gave one), its model calls and tool calls nested under it."""
    convtrack_openai.instrument()
    convtrack_pydantic_ai.instrument()
    assert await pydantic_ai_app(server, model_type, ids) == expected_results()
    runs = list(captured.runs)
    check_model_calls(runs, REQUESTS)
    named = {user: f"{user}-chat" for user in USERS} if ids else None
    check_one_conversation_per_user(conversations_of(runs, users_by_tree(runs)), named)
    by_id = {run.run_id: run for run in runs}
    agent_runs = [run for run in runs if run.source == "pydantic-ai" and run.kind == "chain"]
    assert len(agent_runs) == len(USERS) * len(TURNS)
    assert {run.grouping for run in agent_runs} == {"explicit"}
    for run in runs:
        if run.kind in ("llm", "tool"):
            assert by_id[run.parent_run_id or ""] in agent_runs
    assert len([run for run in runs if run.kind == "tool"]) == len(USERS)
