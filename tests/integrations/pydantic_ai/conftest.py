"""Fixtures for the convtrack-pydantic-ai tests: the fake server, a model, runs captured."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import convtrack_openai
import convtrack_pydantic_ai
import openai
import pytest
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from convtrack.fake_llm import FakeLLMServer
from convtrack.testing import CapturedRuns, capture_runs


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    """The fake OpenAI server."""
    with FakeLLMServer() as fake:
        yield fake


@pytest.fixture
async def model(server: FakeLLMServer) -> AsyncIterator[OpenAIChatModel]:
    """pydantic-ai's OpenAI chat model on a real client of the fake server."""
    async with openai.AsyncOpenAI(
        base_url=server.openai_base_url, api_key="test", max_retries=0
    ) as client:
        yield OpenAIChatModel("gpt-test", provider=OpenAIProvider(openai_client=client))


@pytest.fixture
def captured() -> Iterator[CapturedRuns]:
    """Runs recorded in memory; both integrations on, and off again afterwards."""
    with capture_runs() as runs:
        convtrack_openai.instrument()
        convtrack_pydantic_ai.instrument()
        yield runs
    convtrack_pydantic_ai.uninstrument()
    convtrack_openai.uninstrument()
