"""Fixtures for the convtrack-http tests: an echo server, instrumentation undone after each test."""

from __future__ import annotations

from collections.abc import Iterator

import convtrack_http
import pytest
from http_support import EchoServer

from convtrack.testing import CapturedRuns, capture_runs


@pytest.fixture
def server() -> Iterator[EchoServer]:
    """A local server answering with the headers it received."""
    with EchoServer() as echo:
        yield echo


@pytest.fixture(autouse=True)
def _uninstrument() -> Iterator[None]:
    """Each test starts and ends with convtrack-http off."""
    convtrack_http.uninstrument()
    yield
    convtrack_http.uninstrument()


@pytest.fixture
def captured() -> Iterator[CapturedRuns]:
    """Record runs in memory (automatic grouping off) for the test."""
    with capture_runs(grouping=False) as runs:
        yield runs
