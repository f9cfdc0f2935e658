"""Fixtures for the automatic-grouping tests."""

from __future__ import annotations

import pytest


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """A clock for MemoryStore TTLs that tests advance by hand."""
    return FakeClock()
