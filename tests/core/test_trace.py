"""trace(): user steps recorded as runs with parents, errors and conversations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

import convtrack as ct
from convtrack import RunKind
from convtrack.testing import capture_runs


def test_not_configured_records_nothing_and_returns_value() -> None:
    """Before configure(), a traced function just runs."""

    @ct.trace()
    def double(x: int) -> int:
        return x * 2

    before = ct.stats()
    assert double(4) == 8
    with ct.trace("step") as step:
        step.set_output("ignored")
    assert ct.stats() == before


def test_parent_child_links(memory_sink: ct.MemorySink) -> None:
    """Nested traced steps are children of the enclosing one, with one root."""

    @ct.trace(kind="tool")
    def child(x: int) -> int:
        return x + 1

    @ct.trace(name="parent-step")
    def parent() -> int:
        with ct.trace("inner", kind="retriever"):
            child(1)
        return child(2)

    with ct.conversation("c1", user_id="u1"):
        assert parent() == 3
    ct.flush()
    runs = {r.name: r for r in memory_sink.runs}
    assert set(runs) == {"parent-step", "inner", "test_parent_child_links.<locals>.child"}
    root = runs["parent-step"]
    assert root.parent_run_id is None
    assert root.root_run_id == root.run_id
    assert runs["inner"].parent_run_id == root.run_id
    assert runs["inner"].kind is RunKind.RETRIEVER
    kids = [r for r in memory_sink.runs if r.kind is RunKind.TOOL]
    assert [k.parent_run_id for k in kids] == [runs["inner"].run_id, root.run_id]
    assert {r.root_run_id for r in memory_sink.runs} == {root.run_id}
    assert {(r.conversation_id, r.user_id, r.grouping) for r in memory_sink.runs} == {
        ("c1", "u1", "context")
    }
    assert root.outputs == 3
    assert [k.inputs for k in kids] == [[1], [2]]
    assert root.started_at <= runs["inner"].started_at <= runs["inner"].ended_at <= root.ended_at


def test_errors_recorded_and_reraised_unchanged(memory_sink: ct.MemorySink) -> None:
    """A step's exception is recorded on its run and reaches the caller as is."""
    error = ValueError("bad input")

    @ct.trace()
    def fail() -> None:
        raise error

    with pytest.raises(ValueError) as caught:
        fail()
    assert caught.value is error
    with pytest.raises(KeyError), ct.trace("cm-step"):
        raise KeyError("k")
    ct.flush()
    first, second = memory_sink.runs
    assert (first.status, first.error) == ("error", "ValueError: bad input")
    assert (second.status, second.error) == ("error", "KeyError: 'k'")
    assert first.conversation_id is None
    assert first.grouping == "none"


async def test_async_and_concurrent_tasks(memory_sink: ct.MemorySink) -> None:
    """Async steps in concurrent tasks get the right parents and conversations."""

    @ct.trace()
    async def leaf(i: int) -> int:
        await asyncio.sleep(0.001)
        return i

    @ct.trace()
    async def branch(i: int) -> int:
        with ct.conversation(f"c{i}"):
            return await leaf(i)

    async with ct.trace("root"):
        await asyncio.gather(*(branch(i) for i in range(5)))
    ct.flush()
    runs = memory_sink.runs
    root = next(r for r in runs if r.name == "root")
    branches = {r.run_id: r for r in runs if r.name.endswith("branch")}
    leaves = [r for r in runs if r.name.endswith("leaf")]
    assert len(branches) == 5
    assert len(leaves) == 5
    for leaf_run in leaves:
        parent = branches[str(leaf_run.parent_run_id)]
        assert parent.parent_run_id == root.run_id
        assert leaf_run.root_run_id == root.run_id
        # the root has no conversation, so a leaf resolves its own from the context
        assert parent.conversation_id is None
        assert leaf_run.conversation_id == f"c{leaf_run.outputs}"
        assert leaf_run.grouping == "context"


def test_child_takes_roots_conversation(memory_sink: ct.MemorySink) -> None:
    """Runs inside a step keep the step's conversation even if the context changes."""
    with ct.conversation("root-conv"), ct.trace("root"), ct.conversation("other"), ct.trace("c"):
        pass
    ct.flush()
    assert {r.conversation_id for r in memory_sink.runs} == {"root-conv"}


def test_generator_step(memory_sink: ct.MemorySink) -> None:
    """A traced generator's run spans its iteration; steps inside are its children."""

    @ct.trace()
    def produce() -> Iterator[int]:
        for i in range(3):
            with ct.trace(f"item-{i}"):
                pass
            yield i

    assert list(produce()) == [0, 1, 2]
    gen = produce()
    next(gen)
    gen.close()
    ct.flush()
    runs = memory_sink.runs
    full = [r for r in runs if r.name.endswith("produce")]
    assert [r.outputs for r in full] == [{"items": 3}, {"items": 1, "closed": True}]
    items = [r for r in runs if r.name.startswith("item-")]
    assert {r.parent_run_id for r in items} == {r.run_id for r in full}


async def test_async_generator_step(memory_sink: ct.MemorySink) -> None:
    """A traced async generator's run ends when it is exhausted."""

    @ct.trace(kind="chain")
    async def stream() -> AsyncIterator[int]:
        yield 1
        yield 2

    assert [x async for x in stream()] == [1, 2]
    ct.flush()
    (run,) = memory_sink.runs
    assert (run.kind, run.outputs) == (RunKind.CHAIN, {"items": 2})


def test_capture_content_off(tmp_path: object) -> None:
    """capture_content=False keeps names and timings but not inputs or outputs."""
    sink = ct.MemorySink()
    ct.configure([sink], grouping=False, capture_content=False)

    @ct.trace()
    def secret(x: str) -> str:
        return x.upper()

    secret("password")
    ct.flush()
    (run,) = sink.runs
    assert (run.inputs, run.outputs) == (None, None)


def test_bad_arguments() -> None:
    """Bad trace() arguments raise clear errors."""
    with pytest.raises(ValueError, match="kind must be one of"):
        ct.trace(kind="banana")
    with pytest.raises(TypeError, match="parentheses"):
        ct.trace(lambda: None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="name"):
        ct.trace(name=3)  # type: ignore[arg-type]


def test_decorator_keeps_metadata() -> None:
    """trace() keeps the function's name, doc and signature."""
    import inspect

    def f(a: int, b: str = "x") -> str:
        """Doc."""
        return b * a

    traced = ct.trace()(f)
    assert (traced.__name__, traced.__doc__) == ("f", "Doc.")
    assert inspect.signature(traced) == inspect.signature(f)


def test_held_run_adopts_then_releases_once(memory_sink: ct.MemorySink) -> None:
    """end(hold=True) keeps a run back; adopt() still moves it; release() emits it once."""
    from convtrack._resolve import Decision
    from convtrack._start import start_run

    run = start_run("chain", "early-step", source="test")
    assert run is not None
    assert run.conversation_id is None
    run.end(outputs=1, hold=True)
    ct.flush()
    assert memory_sink.runs == ()
    run.adopt(Decision("late-conv", "u", None, "auto-new"))
    run.release()
    run.release()
    run.adopt(Decision("too-late", None, None, "explicit"))  # emitted: no effect
    ct.flush()
    (emitted,) = memory_sink.runs
    assert (emitted.conversation_id, emitted.user_id, emitted.grouping) == (
        "late-conv",
        "u",
        "auto-new",
    )
    assert emitted.outputs == 1


def test_an_emitted_run_no_longer_changes(memory_sink: ct.MemorySink) -> None:
    """The Run takes over its RunHandle's fields: setters after end() must not reach it
    (before or after the dispatcher built it), while a held run still takes them."""
    from convtrack._start import start_run

    late = start_run("tool", "late-setters", source="test")
    held = start_run("tool", "held", source="test")
    assert late is not None
    assert held is not None
    late.end(outputs="answer", usage={"total_tokens": 3})
    late.set_output("changed before the dispatcher ran")
    held.end(hold=True)
    held.set_output("kept")
    held.set_usage({"total_tokens": 7}, model="m")
    held.release()
    ct.flush()
    late.set_input("changed after")
    late.set_usage({"total_tokens": 99}, model="other")
    late.end(outputs="ignored")
    runs = {run.name: run for run in memory_sink.runs}
    assert (runs["late-setters"].outputs, runs["late-setters"].inputs) == ("answer", None)
    assert (runs["late-setters"].usage, runs["late-setters"].model) == ({"total_tokens": 3}, None)
    assert (runs["held"].outputs, runs["held"].usage, runs["held"].model) == (
        "kept",
        {"total_tokens": 7},
        "m",
    )
    assert not hasattr(runs["held"], "_held")


def test_an_active_run_reads_the_run_defaults_until_set() -> None:
    """RunHandle mirrors Run's defaults (a Run is a copy of its fields): they must not drift."""
    from dataclasses import MISSING, fields

    from convtrack._handle import RunHandle

    for f in fields(ct.Run):
        if f.default is not MISSING:
            assert getattr(RunHandle, f.name) == f.default, f.name


def test_pipeline_runs_behave_as_dataclasses_with_exact_times() -> None:
    """A pipeline-built Run (times made on first read) equals, copies, pickles and reports its
    times like a Run built by hand."""
    import dataclasses
    import pickle
    from datetime import datetime, timedelta, timezone

    from convtrack._runs import times_ns

    with capture_runs() as sink:

        @ct.trace()
        def step(x: int) -> int:
            return x

        step(1)
    (run,) = sink.runs
    start_ns, end_ns = times_ns(run)
    assert run.started_at.tzinfo is timezone.utc
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    assert run.started_at == epoch + timedelta(microseconds=start_ns // 1000)
    assert run.started_at <= run.ended_at
    assert run.duration_ms == pytest.approx((end_ns // 1000 - start_ns // 1000) / 1000)
    by_hand = ct.Run(**{f.name: getattr(run, f.name) for f in dataclasses.fields(ct.Run)})
    assert by_hand == run
    assert times_ns(by_hand) == (start_ns // 1000 * 1000, end_ns // 1000 * 1000)
    assert pickle.loads(pickle.dumps(run)) == run
    assert dataclasses.replace(run, name="other").started_at == run.started_at
    assert dataclasses.asdict(run)["ended_at"] == run.ended_at
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        run.nope  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.name = "x"  # type: ignore[misc]


async def test_a_failure_to_start_the_run_leaves_the_call_alone(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """convtrack's own failure at the start of a step is logged; the call runs, unchanged."""
    import convtrack._trace as trace_module

    def broken(*args: object) -> None:
        raise RuntimeError("core bug")

    monkeypatch.setattr(trace_module, "start_step", broken)

    @ct.trace()
    def double(x: int) -> int:
        return 2 * x

    @ct.trace()
    async def adouble(x: int) -> int:
        return 2 * x

    with capture_runs() as sink:
        assert double(2) == 4
        assert await adouble(3) == 6
    assert sink.runs == ()
    assert "trace (start) failed" in caplog.text
