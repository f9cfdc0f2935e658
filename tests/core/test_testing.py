"""convtrack.testing: capture_runs() and the convtrack_runs pytest fixture."""

from __future__ import annotations

import convtrack as ct
from convtrack.testing import CapturedRuns, capture_runs


def test_fixture_captures_runs(convtrack_runs: CapturedRuns) -> None:
    """The fixture (registered by entry point) captures the runs a test makes."""
    with ct.conversation("fx"), ct.trace("step"):
        pass
    assert [(r.name, r.conversation_id) for r in convtrack_runs.runs] == [("step", "fx")]
    assert list(convtrack_runs.by_conversation()) == ["fx"]
    convtrack_runs.clear()
    assert len(convtrack_runs) == 0


def test_capture_restores_previous_pipeline() -> None:
    """capture_runs() routes runs to memory only while open, then puts back the pipeline."""
    outer = ct.MemorySink()
    ct.configure([outer], grouping=False)
    with capture_runs(grouping=False) as captured, ct.trace("captured"):
        pass
    with ct.trace("after"):
        pass
    ct.flush()
    assert [r.name for r in captured.runs] == ["captured"]
    assert [r.name for r in outer.runs] == ["after"]
