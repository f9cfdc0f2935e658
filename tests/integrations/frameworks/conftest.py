"""Fixtures for the framework apps: the fake server, captured runs, instrumentation undone."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from types import ModuleType

import convtrack_langchain
import convtrack_openai
import pytest

from convtrack.fake_llm import FakeLLMServer
from convtrack.testing import CapturedRuns, capture_runs

INTEGRATIONS: list[ModuleType] = [convtrack_openai, convtrack_langchain]
# .ci/frameworks runs the LlamaIndex and instructor apps in a venv without these two
if importlib.util.find_spec("convtrack_openai_agents") is not None:
    import convtrack_openai_agents
    from agents import set_trace_processors

    # the Agents SDK's tracing goes to convtrack's processor only (not to the OpenAI backend)
    set_trace_processors([convtrack_openai_agents.processor()])
    INTEGRATIONS.append(convtrack_openai_agents)
if importlib.util.find_spec("convtrack_pydantic_ai") is not None:
    import convtrack_pydantic_ai

    INTEGRATIONS.append(convtrack_pydantic_ai)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    """The fake OpenAI server (real HTTP on 127.0.0.1)."""
    with FakeLLMServer() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _uninstrument() -> Iterator[None]:
    """Every test starts and ends with no integration on."""
    for module in INTEGRATIONS:
        module.uninstrument()
    yield
    for module in INTEGRATIONS:
        module.uninstrument()


@pytest.fixture
def captured() -> Iterator[CapturedRuns]:
    """Runs recorded in memory, automatic grouping on (the default configuration)."""
    with capture_runs() as runs:
        yield runs
