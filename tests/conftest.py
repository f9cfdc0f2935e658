"""Shared fixtures: every test starts with no conversation, no pipeline, no instrumentation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import convtrack
from convtrack import _guard
from convtrack._context import get_raw, note_llm_conversation


@pytest.fixture(autouse=True)
def _clean_convtrack() -> Iterator[None]:
    """Reset convtrack's global state around each test."""
    assert get_raw() is None, "a previous test leaked a conversation"
    note_llm_conversation(None)  # what a previous test's LLM calls joined
    _guard._reset_for_tests()
    yield
    convtrack.shutdown()
    convtrack.uninstrument_threading()
    _guard._reset_for_tests()


@pytest.fixture
def memory_sink() -> convtrack.MemorySink:
    """A pipeline recording into a MemorySink (automatic grouping off)."""
    sink = convtrack.MemorySink()
    convtrack.configure([sink], grouping=False, export_interval=0.05)
    return sink
