"""Every Run keeps its promises: the same fields however it was made, read-only metadata."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

import convtrack as ct
from convtrack import Run, RunKind
from convtrack.instrumentation import start_run


def _made_by_hand() -> Run:
    now = datetime.now(timezone.utc)
    return Run("r", None, "r", "c", None, None, RunKind.FUNCTION, "n", "s", "context", now, now)


def test_runs_show_the_same_fields_however_they_were_made(memory_sink: ct.MemorySink) -> None:
    """vars() of a recorded Run holds the dataclass fields (its times once read), nothing else."""
    with ct.conversation("c"), ct.trace("plain"):
        pass
    with ct.trace("with content", metadata={"k": 1}) as run:
        run.set_output("out")
    start_run("tool", "seam", source="test").end(outputs=1, error=ValueError("x"))
    ct.flush()
    names = sorted(f.name for f in dataclasses.fields(Run))
    assert sorted(vars(_made_by_hand())) == names
    for recorded in memory_sink.runs:
        # the times are made on first read (bench_context_instructions.py): until then they
        # are all vars() lacks, and nothing private shows
        assert sorted({*vars(recorded), "started_at", "ended_at"}) == names
        assert recorded.started_at <= recorded.ended_at
        assert sorted(vars(recorded)) == names
        assert dataclasses.asdict(recorded)["run_id"] == recorded.run_id


def test_attributes_of_a_run_are_plain_reads() -> None:
    """Run has no __getattr__ (with one, every attribute read of a Run took Python's slow
    path: 5x a plain read; bench_store.py reads ~50 a run): its lazy times are descriptors,
    and a Run missing them says which attribute is missing."""
    assert not hasattr(Run, "__getattr__")
    bare = object.__new__(Run)
    with pytest.raises(AttributeError, match="started_at"):
        _ = bare.started_at
    with pytest.raises(AttributeError, match="ended_at"):
        _ = bare.ended_at
    run = _made_by_hand()
    assert run.started_at == run.ended_at  # a Run made with datetimes keeps its own


def test_without_content_inputs_and_outputs_are_none() -> None:
    """capture_content=False keeps the fields, with no content in them."""
    sink = ct.MemorySink()
    ct.configure([sink], grouping=False, capture_content=False)
    with ct.trace("step") as run:
        run.set_output("secret")
    ct.flush()
    [recorded] = sink.runs
    assert (recorded.inputs, recorded.outputs) == (None, None)
    assert {*vars(recorded), "started_at", "ended_at"} == {f.name for f in dataclasses.fields(Run)}


@pytest.mark.parametrize("how", ["trace context manager", "trace decorator", "start_run", "end"])
def test_metadata_is_read_only_on_every_path(memory_sink: ct.MemorySink, how: str) -> None:
    """Whichever way a run got its metadata, the Run's metadata refuses changes."""
    if how == "trace context manager":
        with ct.trace("step", metadata={"k": "v"}):
            pass
    elif how == "trace decorator":
        ct.trace(metadata={"k": "v"})(lambda: None)()
    elif how == "start_run":
        start_run("tool", "t", source="test", metadata={"k": "v"}).end()
    else:
        start_run("tool", "t", source="test").end(metadata={"k": "v"})
    ct.flush()
    [run] = memory_sink.runs
    assert dict(run.metadata) == {"k": "v"}
    with pytest.raises(TypeError, match="read-only"):
        run.metadata["k"] = "changed"  # type: ignore[index]
