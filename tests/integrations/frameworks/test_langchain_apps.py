"""The LangChain apps (ChatOpenAI directly, LangGraph), two users interleaved."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import convtrack_langchain
import convtrack_openai
import pytest
from frameworks_support import (
    USERS,
    check_model_calls,
    check_one_conversation_per_user,
    conversations_of,
    expected_results,
    llm_runs,
    user_in,
    users_by_tree,
)
from langchain_apps import chatopenai_app, langgraph_app

from convtrack.fake_llm import FakeLLMServer
from convtrack.testing import CapturedRuns

# langchain-openai keeps one async HTTP client per base URL for the process: one event loop
pytestmark = pytest.mark.asyncio(loop_scope="module")

App = Callable[[FakeLLMServer, bool], Awaitable[dict[str, list[Any]]]]
APPS = [pytest.param(chatopenai_app, id="chatopenai"), pytest.param(langgraph_app, id="langgraph")]
IDS = [pytest.param(False, id="no-ids"), pytest.param(True, id="thread-ids")]
REQUESTS = 8  # per user: a plain turn, a tool turn (two calls), a streamed turn


@pytest.mark.parametrize("ids", IDS)
@pytest.mark.parametrize("app", APPS)
async def test_without_convtrack_the_app_gets_its_answers(
    app: App, ids: bool, server: FakeLLMServer, captured: CapturedRuns
) -> None:
    """The app's answers with nothing instrumented (the reference for the other tests)."""
    assert await app(server, ids) == expected_results()
    assert not captured.runs


@pytest.mark.parametrize("ids", IDS)
@pytest.mark.parametrize("app", APPS)
async def test_with_the_openai_sdk_instrumented(
    app: App, ids: bool, server: FakeLLMServer, captured: CapturedRuns
) -> None:
    """Only convtrack-openai: every model call once with its answer, one conversation a user."""
    convtrack_openai.instrument()
    assert await app(server, ids) == expected_results()
    runs = list(captured.runs)
    check_model_calls(runs, REQUESTS)
    check_one_conversation_per_user(conversations_of(llm_runs(runs), user_in), None)


@pytest.mark.parametrize("ids", IDS)
@pytest.mark.parametrize("app", APPS)
async def test_with_everything_instrumented(
    app: App, ids: bool, server: FakeLLMServer, captured: CapturedRuns
) -> None:
    """With LangChain's side too: each call once (the SDK's run nested in LangChain's), each
    user one conversation, the app's thread id when it gave one."""
    convtrack_openai.instrument()
    convtrack_langchain.instrument()
    assert await app(server, ids) == expected_results()
    runs = list(captured.runs)
    check_model_calls(runs, REQUESTS)
    outer = llm_runs(runs, "langchain")
    assert len(outer) == REQUESTS
    by_id = {run.run_id: run for run in runs}
    for call in llm_runs(runs):
        assert by_id[call.parent_run_id or ""] in outer  # each SDK call inside LangChain's run
    named = {user: f"{user}-chat" for user in USERS} if ids else None
    # the app's own tool call (ChatOpenAI directly): in the thread the app names, else in no
    # conversation (it has no messages to group by)
    trees = {run.root_run_id for run in llm_runs(runs)}
    strays = [run for run in runs if run.root_run_id not in trees]
    assert all(run.kind == "tool" for run in strays)
    assert all(run.conversation_id is None for run in strays) != ids or not strays
    grouped = runs if ids else [run for run in runs if run.root_run_id in trees]
    check_one_conversation_per_user(conversations_of(grouped, users_by_tree(grouped)), named)
