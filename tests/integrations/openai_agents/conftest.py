"""Fixtures for the convtrack-openai-agents tests: the fake server, a model, runs captured."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import convtrack_openai
import convtrack_openai_agents
import openai
import pytest
from agents import OpenAIResponsesModel, set_trace_processors

from convtrack.fake_llm import FakeLLMServer
from convtrack.testing import CapturedRuns, capture_runs

# the Agents SDK's tracing goes to convtrack's processor only (not to the OpenAI backend)
set_trace_processors([convtrack_openai_agents.processor()])


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    """The fake OpenAI server."""
    with FakeLLMServer() as fake:
        yield fake


@pytest.fixture
async def model(server: FakeLLMServer) -> AsyncIterator[OpenAIResponsesModel]:
    """The SDK's Responses model on a real client of the fake server."""
    async with openai.AsyncOpenAI(
        base_url=server.openai_base_url, api_key="test", max_retries=0
    ) as client:
        yield OpenAIResponsesModel("gpt-test", client)


@pytest.fixture
def captured() -> Iterator[CapturedRuns]:
    """Runs recorded in memory; both integrations on, and off again afterwards."""
    with capture_runs() as runs:
        convtrack_openai.instrument()
        convtrack_openai_agents.instrument()
        yield runs
    convtrack_openai_agents.uninstrument()
    convtrack_openai.uninstrument()
