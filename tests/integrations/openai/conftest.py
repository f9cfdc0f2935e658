"""Fixtures for the OpenAI integration tests: a local fake server and the real clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import convtrack_openai
import openai
import pytest
from openai_support import Chat, Respond

import convtrack
from convtrack.fake_llm import FakeLLMServer


@pytest.fixture(autouse=True)
def _uninstrument() -> Iterator[None]:
    """Every test starts and ends uninstrumented."""
    convtrack_openai.uninstrument()
    yield
    convtrack_openai.uninstrument()


@pytest.fixture(scope="session")
def _server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def server(_server: FakeLLMServer) -> FakeLLMServer:
    """The fake OpenAI server, with an empty request log and no failure queued."""
    _server.clear()
    return _server


@pytest.fixture
def sink() -> convtrack.MemorySink:
    """convtrack configured (automatic grouping on, in memory) and OpenAI instrumented."""
    sink = convtrack.MemorySink()
    convtrack.configure([sink], export_interval=0.05)
    convtrack_openai.instrument()
    return sink


@pytest.fixture
def client(server: FakeLLMServer) -> Iterator[openai.OpenAI]:
    """A real sync client talking to the fake server (no retries)."""
    with openai.OpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(server: FakeLLMServer) -> AsyncIterator[openai.AsyncOpenAI]:
    """A real async client talking to the fake server (no retries)."""
    async with openai.AsyncOpenAI(
        base_url=server.openai_base_url, api_key="test", max_retries=0
    ) as c:
        yield c


@pytest.fixture(
    params=[("sync", False), ("sync", True), ("async", False), ("async", True)],
    ids=["sync", "sync-stream", "async", "async-stream"],
)
def chat(
    request: pytest.FixtureRequest, client: openai.OpenAI, aclient: openai.AsyncOpenAI
) -> Chat:
    """One chat turn through `chat.completions.create`, in each of the four ways."""
    mode, stream = request.param
    return Chat(client if mode == "sync" else aclient, stream)


@pytest.fixture(
    params=[("sync", False), ("sync", True), ("async", False), ("async", True)],
    ids=["sync", "sync-stream", "async", "async-stream"],
)
def respond(
    request: pytest.FixtureRequest, client: openai.OpenAI, aclient: openai.AsyncOpenAI
) -> Respond:
    """One `responses.create` call, in each of the four ways."""
    mode, stream = request.param
    return Respond(client if mode == "sync" else aclient, stream)
