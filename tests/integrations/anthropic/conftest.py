"""Fixtures for the Anthropic integration tests: a local fake server and the real clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anthropic
import convtrack_anthropic
import pytest
from anthropic_support import HOWS, Claude

import convtrack
from convtrack.fake_llm import FakeLLMServer


@pytest.fixture(autouse=True)
def _uninstrument() -> Iterator[None]:
    """Every test starts and ends uninstrumented."""
    convtrack_anthropic.uninstrument()
    yield
    convtrack_anthropic.uninstrument()


@pytest.fixture(scope="session")
def _server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def server(_server: FakeLLMServer) -> FakeLLMServer:
    """The fake Anthropic server, with an empty request log and no failure queued."""
    _server.clear()
    return _server


@pytest.fixture
def sink() -> convtrack.MemorySink:
    """convtrack configured (automatic grouping on, in memory) and Anthropic instrumented."""
    sink = convtrack.MemorySink()
    convtrack.configure([sink], export_interval=0.05)
    convtrack_anthropic.instrument()
    return sink


@pytest.fixture
def client(server: FakeLLMServer) -> Iterator[anthropic.Anthropic]:
    """A real sync client talking to the fake server (no retries)."""
    with anthropic.Anthropic(
        base_url=server.anthropic_base_url, api_key="test", max_retries=0
    ) as c:
        yield c


@pytest.fixture
async def aclient(server: FakeLLMServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """A real async client talking to the fake server (no retries)."""
    async with anthropic.AsyncAnthropic(
        base_url=server.anthropic_base_url, api_key="test", max_retries=0
    ) as c:
        yield c


@pytest.fixture(
    params=[(mode, how) for mode in ("sync", "async") for how in HOWS],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def claude(
    request: pytest.FixtureRequest,
    client: anthropic.Anthropic,
    aclient: anthropic.AsyncAnthropic,
) -> Claude:
    """One `messages` call, sync or async, in each of the three ways."""
    mode, how = request.param
    return Claude(client if mode == "sync" else aclient, how)


@pytest.fixture(
    params=[(mode, how) for mode in ("sync", "async") for how in HOWS[1:]],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def streaming_claude(
    request: pytest.FixtureRequest,
    client: anthropic.Anthropic,
    aclient: anthropic.AsyncAnthropic,
) -> Claude:
    """One streamed `messages` call, sync or async, raw or through `messages.stream()`."""
    mode, how = request.param
    return Claude(client if mode == "sync" else aclient, how)
