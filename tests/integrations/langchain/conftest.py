"""Fixtures for the convtrack-langchain tests: captured runs, a handler, no instrumentation left."""

from __future__ import annotations

from collections.abc import Iterator

import convtrack_langchain
import pytest
from convtrack_langchain import ConversationCallbackHandler

from convtrack.testing import CapturedRuns, capture_runs


@pytest.fixture(autouse=True)
def _uninstrument() -> Iterator[None]:
    """Leave LangChain uninstrumented after every test."""
    yield
    convtrack_langchain.uninstrument()


@pytest.fixture
def captured() -> Iterator[CapturedRuns]:
    """Record runs in memory, with automatic grouping on (the default configuration)."""
    with capture_runs() as runs:
        yield runs


@pytest.fixture
def handler() -> ConversationCallbackHandler:
    """A fresh handler to pass in `config={"callbacks": [...]}`."""
    return ConversationCallbackHandler()
