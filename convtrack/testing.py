"""Test helpers: `capture_runs()` and the pytest fixture `convtrack_runs` (a pytest plugin)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from . import _setup
from ._pipeline import Pipeline
from ._runs import Run
from .sinks import MemorySink

if TYPE_CHECKING:
    from .grouping import ConversationGrouper

__all__ = ["CapturedRuns", "capture_runs", "convtrack_runs"]


class CapturedRuns:
    """The runs recorded inside `capture_runs()`; reading them flushes first."""

    def __init__(self, sink: MemorySink) -> None:
        self.sink = sink

    @property
    def runs(self) -> tuple[Run, ...]:
        """Every run so far, in emission order."""
        _setup.flush(10.0)
        return self.sink.runs

    def by_conversation(self) -> dict[str | None, list[Run]]:
        """The runs so far grouped by conversation id, in emission order."""
        groups: dict[str | None, list[Run]] = {}
        for run in self.runs:
            groups.setdefault(run.conversation_id, []).append(run)
        return groups

    def clear(self) -> None:
        """Forget the runs captured so far."""
        _setup.flush(10.0)
        self.sink.clear()

    def __len__(self) -> int:
        return len(self.runs)

    def __iter__(self) -> Iterator[Run]:
        return iter(self.runs)


@contextmanager
def capture_runs(
    *, grouping: bool | ConversationGrouper = True, capture_content: bool = True
) -> Iterator[CapturedRuns]:
    """Record runs in memory for the duration of the block, then put back what was configured.

    Example:
        >>> with capture_runs() as captured:
        ...     handle("hi")
        >>> [run.name for run in captured.runs]
    """
    sink = MemorySink()
    with _setup.configure_lock:
        pipeline = Pipeline(
            [sink],
            _setup.resolve_grouper(grouping),
            capture_content,
            max_queue_size=1_000_000,
            batch_size=512,
            export_interval=0.05,
        )
        previous = _setup.install(pipeline)
    try:
        yield CapturedRuns(sink)
    finally:
        with _setup.configure_lock:
            if _setup.current is pipeline:
                _setup.install(previous)
        pipeline.shutdown(10.0)


try:
    import pytest
except ImportError:  # pragma: no cover - the plugin is only loaded by pytest
    pass
else:

    @pytest.fixture
    def convtrack_runs() -> Iterator[CapturedRuns]:
        """Capture the runs a test records (in memory, automatic grouping on)."""
        with capture_runs() as captured:
            yield captured
