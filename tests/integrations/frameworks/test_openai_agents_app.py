"""A multi-turn app on the OpenAI Agents SDK (Responses API), two users interleaved."""

from __future__ import annotations

import json
from typing import Any

import convtrack_openai
import convtrack_openai_agents
import openai
import pytest
from agents import (
    Agent,
    ModelSettings,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    RunConfig,
    Runner,
    function_tool,
)
from frameworks_support import (
    TURNS,
    USERS,
    check_model_calls,
    check_one_conversation_per_user,
    conversations_of,
    expected_answer,
    llm_runs,
    prompt,
    user_in,
    users_by_tree,
)

from convtrack.fake_llm import FakeLLMServer
from convtrack.testing import CapturedRuns

SOURCE = "openai-agents"
MODELS = [
    pytest.param(OpenAIResponsesModel, id="responses"),
    pytest.param(OpenAIChatCompletionsModel, id="chat-completions"),
]
REQUESTS = 8  # per user: a plain turn, a tool turn (two calls), a streamed turn


@function_tool
def lookup(query: str) -> str:
    """Look the query up."""
    return f"found {query}"


async def agents_app(server: FakeLLMServer, model_type: Any, ids: bool) -> dict[str, list[Any]]:
    """Each user's three turns, interleaved; what the app got back (answers, streamed text)."""
    async with openai.AsyncOpenAI(
        base_url=server.openai_base_url, api_key="test", max_retries=0
    ) as client:
        model = model_type("gpt-test", client)
        usage = ModelSettings(include_usage=True)  # streamed Chat Completions report usage too
        chat = Agent("chat", instructions="Be brief.", model=model, model_settings=usage)
        helper = Agent(
            "helper", instructions="Be brief.", model=model, tools=[lookup], model_settings=usage
        )
        histories: dict[str, list[Any]] = {user: [] for user in USERS}
        results: dict[str, list[Any]] = {user: [] for user in USERS}
        for turn, kind in enumerate(TURNS):
            for user in USERS:
                config = RunConfig(group_id=f"{user}-chat") if ids else RunConfig()
                given = [*histories[user], {"role": "user", "content": prompt(user, turn)}]
                if kind == "stream":
                    streamed = Runner.run_streamed(chat, given, run_config=config)
                    deltas = [
                        event.data.delta
                        async for event in streamed.stream_events()
                        if event.type == "raw_response_event"
                        and event.data.type == "response.output_text.delta"  # both models
                    ]
                    results[user].append(("".join(deltas), streamed.final_output))
                    histories[user] = streamed.to_input_list()
                else:
                    agent = helper if kind == "tool" else chat
                    result = await Runner.run(agent, given, run_config=config)
                    results[user].append(result.final_output)
                    histories[user] = result.to_input_list()
        return results


def expected_results() -> dict[str, list[Any]]:
    """What the app gets from the fake server, convtrack or not."""
    results: dict[str, list[Any]] = {}
    for user in USERS:
        answers: list[Any] = [expected_answer(user, turn, kind) for turn, kind in enumerate(TURNS)]
        answers[-1] = (answers[-1], answers[-1])  # the streamed turn: deltas and final output
        results[user] = answers
    return results


@pytest.mark.parametrize("ids", [False, True], ids=["no-ids", "group-ids"])
@pytest.mark.parametrize("model_type", MODELS)
async def test_without_convtrack_the_app_gets_its_answers(
    model_type: Any, ids: bool, server: FakeLLMServer, captured: CapturedRuns
) -> None:
    """The app's answers with nothing instrumented (the reference for the other tests)."""
    assert await agents_app(server, model_type, ids) == expected_results()
    assert not captured.runs


@pytest.mark.parametrize("ids", [False, True], ids=["no-ids", "group-ids"])
@pytest.mark.parametrize("model_type", MODELS)
async def test_with_the_openai_sdk_instrumented(
    model_type: Any, ids: bool, server: FakeLLMServer, captured: CapturedRuns
) -> None:
    """Only convtrack-openai: every model call once with its answer, one conversation a user."""
    convtrack_openai.instrument()
    assert await agents_app(server, model_type, ids) == expected_results()
    runs = list(captured.runs)
    check_model_calls(runs, REQUESTS)
    check_one_conversation_per_user(conversations_of(llm_runs(runs), user_in), None)


@pytest.mark.parametrize("ids", [False, True], ids=["no-ids", "group-ids"])
@pytest.mark.parametrize("model_type", MODELS)
async def test_with_everything_instrumented(
    model_type: Any, ids: bool, server: FakeLLMServer, captured: CapturedRuns
) -> None:
    """With the Agents integration too: each turn is a tree (trace > agent > tool and model
    calls) in the user's conversation, the app's group_id when it gave one."""
    convtrack_openai.instrument()
    convtrack_openai_agents.instrument()
    assert await agents_app(server, model_type, ids) == expected_results()
    runs = list(captured.runs)
    check_model_calls(runs, REQUESTS)
    named = {user: f"{user}-chat" for user in USERS} if ids else None
    check_one_conversation_per_user(conversations_of(runs, users_by_tree(runs)), named)
    by_id = {run.run_id: run for run in runs}
    roots = [run for run in runs if run.source == SOURCE and run.parent_run_id is None]
    assert len(roots) == len(USERS) * len(TURNS)
    assert {root.grouping for root in roots} == (
        {"explicit"} if ids else {"auto-new", "auto-matched"}
    )
    for call in llm_runs(runs):
        agent = by_id[call.parent_run_id] if call.parent_run_id else None
        assert agent is not None
        assert (agent.source, agent.kind, agent.name) in {
            (SOURCE, "chain", "chat"),
            (SOURCE, "chain", "helper"),
        }
        assert by_id[agent.parent_run_id or ""].parent_run_id is None  # the turn's root
    tools = [run for run in runs if run.kind == "tool"]
    assert len(tools) == len(USERS)
    for tool in tools:
        assert tool.name == "lookup"
        assert by_id[tool.parent_run_id or ""].name == "helper"
        query = json.loads(tool.inputs["input"])["query"]
        assert tool.outputs == {"output": f"found {query}"}
