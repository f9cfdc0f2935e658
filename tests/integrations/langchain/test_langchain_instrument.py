"""instrument()/uninstrument(): every run observed without callbacks; metadata for other tracers."""

from __future__ import annotations

import asyncio
import threading
from typing import Any
from uuid import UUID

import convtrack_langchain
from convtrack_langchain import ConversationCallbackHandler
from langchain_core.callbacks import AsyncCallbackManager, CallbackManager
from langchain_core.runnables import RunnableLambda
from langchain_core.tracers import context as tracer_context
from langchain_core.tracers.context import collect_runs
from langchain_core.tracers.schemas import Run as LangChainRun
from langchain_support import (
    EventRecorder,
    chat_chain,
    check_tree_integrity,
    fanout_chain,
    rag_chain,
    roots,
)

import convtrack as ct
from convtrack._patch import is_patched
from convtrack.testing import CapturedRuns


def walk(run: LangChainRun) -> list[LangChainRun]:
    """A LangChain tracer's run and all its descendants."""
    return [run, *(r for child in run.child_runs for r in walk(child))]


def test_every_run_is_observed_without_passing_callbacks(captured: CapturedRuns) -> None:
    """With instrument(), invoke/batch/threads/tasks are all recorded, with no callbacks given."""
    convtrack_langchain.instrument()
    chain = fanout_chain()
    chain.invoke(1)
    chain.batch([1, 2, 3, 4])  # a thread pool
    worker = threading.Thread(target=chain.invoke, args=(5,))  # a bare thread
    worker.start()
    worker.join()

    async def tasks() -> None:
        await asyncio.gather(*(chain.ainvoke(i) for i in range(3)))

    asyncio.run(tasks())
    runs = captured.runs
    check_tree_integrity(runs)
    assert len(roots(runs)) == 1 + 4 + 1 + 3
    assert sum(r.name == "inc" for r in runs) == 9
    handler = convtrack_langchain.instrumented_handler()
    assert handler is not None
    assert handler.open_runs == 0


def test_batch_threads_each_keep_their_own_thread_id(captured: CapturedRuns) -> None:
    """Instrumented `.batch` with per-input thread ids: each tree in its conversation."""
    convtrack_langchain.instrument()
    configs: list[Any] = [{"metadata": {"thread_id": f"thread-{i}"}} for i in range(5)]
    rag_chain().batch([{"question": f"order {i}?"} for i in range(5)], configs)
    runs = captured.runs
    check_tree_integrity(runs)
    for root in roots(runs):
        tree = {r.conversation_id for r in runs if r.root_run_id == root.run_id}
        assert tree == {root.conversation_id}
    assert {r.conversation_id for r in roots(runs)} == {f"thread-{i}" for i in range(5)}


def test_configurable_thread_id_names_the_conversation(captured: CapturedRuns) -> None:
    """`configurable={"thread_id": ...}` (LangGraph's way) is the conversation when instrumented."""
    convtrack_langchain.instrument()
    chat_chain().invoke({"question": "hi"}, {"configurable": {"thread_id": "thread-lg"}})
    assert {(r.conversation_id, r.grouping) for r in captured.runs} == {("thread-lg", "explicit")}


def test_instrument_twice_adds_one_handler_and_records_each_run_once(
    captured: CapturedRuns,
) -> None:
    """Calling instrument() twice is the same as once."""
    hooks = len(tracer_context._configure_hooks)
    convtrack_langchain.instrument()
    convtrack_langchain.instrument()
    assert len(tracer_context._configure_hooks) == hooks + 1
    manager = CallbackManager.configure()
    assert sum(isinstance(h, ConversationCallbackHandler) for h in manager.handlers) == 1
    RunnableLambda(lambda x: x).invoke(1)
    assert len(captured.runs) == 1


def test_a_handler_passed_explicitly_is_not_doubled(
    captured: CapturedRuns, handler: ConversationCallbackHandler
) -> None:
    """With instrument() on, a run given its own handler is still recorded once."""
    convtrack_langchain.instrument()
    rag_chain().invoke({"question": "refund?"}, {"callbacks": [handler]})
    runs = captured.runs
    assert len({r.run_id for r in runs}) == len(runs)
    check_tree_integrity(runs)
    instrumented = convtrack_langchain.instrumented_handler()
    assert instrumented is not None
    assert instrumented.open_runs == 0


def test_uninstrument_undoes_everything_and_is_safe_twice(captured: CapturedRuns) -> None:
    """After uninstrument() (twice), runs are not observed and LangChain is as it was."""
    hooks = list(tracer_context._configure_hooks)
    convtrack_langchain.instrument()
    assert convtrack_langchain.is_instrumented()
    assert is_patched(CallbackManager, "configure")
    assert is_patched(AsyncCallbackManager, "configure")
    convtrack_langchain.uninstrument()
    convtrack_langchain.uninstrument()
    assert not convtrack_langchain.is_instrumented()
    assert convtrack_langchain.instrumented_handler() is None
    assert tracer_context._configure_hooks == hooks
    assert not is_patched(CallbackManager, "configure")
    assert not is_patched(AsyncCallbackManager, "configure")
    with ct.conversation("conv-1"):
        manager = CallbackManager.configure()
        RunnableLambda(lambda x: x).invoke(1)
    assert manager.handlers == []
    assert manager.metadata == {}
    assert captured.runs == ()


def test_instrument_again_after_uninstrument_works(captured: CapturedRuns) -> None:
    """instrument() after uninstrument() observes runs again."""
    convtrack_langchain.instrument()
    convtrack_langchain.uninstrument()
    convtrack_langchain.instrument()
    RunnableLambda(lambda x: x).invoke(1)
    assert len(captured.runs) == 1


def test_convtrack_instrument_finds_the_entry_point(captured: CapturedRuns) -> None:
    """`convtrack.instrument("langchain")` turns the integration on through its entry point."""
    assert ct.instrument("langchain") == ["langchain"]
    assert convtrack_langchain.is_instrumented()
    ct.uninstrument("langchain")
    assert not convtrack_langchain.is_instrumented()


def test_langchain_tracers_see_the_conversation_inside_a_convtrack_conversation(
    captured: CapturedRuns,
) -> None:
    """A LangChain tracer (BaseTracer) sees conversation_id and thread_id on every run."""
    convtrack_langchain.instrument()
    with ct.conversation("conv-ls"), collect_runs() as collector:
        rag_chain().invoke({"question": "ship?"})
    (root,) = collector.traced_runs
    traced = walk(root)
    assert len(traced) >= 8
    for run in traced:
        metadata = run.extra["metadata"]
        assert (metadata["conversation_id"], metadata["thread_id"]) == ("conv-ls", "conv-ls")
    # convtrack itself still records the conversation as coming from the context
    assert {(r.conversation_id, r.grouping) for r in captured.runs} == {("conv-ls", "context")}


def test_a_run_with_its_own_id_gets_no_conversation_metadata(captured: CapturedRuns) -> None:
    """Inside a conversation, a run carrying session_id keeps its metadata as given."""
    convtrack_langchain.instrument()
    recorder = EventRecorder()
    with ct.conversation("conv-ls"):
        chat_chain().invoke(
            {"question": "hi"}, {"callbacks": [recorder], "metadata": {"session_id": "s-1"}}
        )
    for metadata in recorder.metadata.values():
        assert metadata["session_id"] == "s-1"
        assert "conversation_id" not in metadata
        assert "thread_id" not in metadata
    assert {r.conversation_id for r in captured.runs} == {"s-1"}


def test_no_metadata_is_added_outside_a_conversation(captured: CapturedRuns) -> None:
    """Outside any convtrack conversation, other tracers see the metadata unchanged."""
    convtrack_langchain.instrument()
    recorder = EventRecorder()
    RunnableLambda(lambda x: x).invoke(1, {"callbacks": [recorder], "metadata": {"k": "v"}})
    assert list(recorder.metadata.values()) == [{"k": "v"}]


async def test_concurrent_tasks_in_different_conversations_stay_apart(
    captured: CapturedRuns,
) -> None:
    """Instrumented async chains in concurrent tasks each join their task's conversation."""
    convtrack_langchain.instrument()
    recorder = EventRecorder()
    chain = rag_chain()

    async def serve(conversation_id: str) -> None:
        async with ct.conversation(conversation_id):
            await chain.ainvoke({"question": "order?"}, {"callbacks": [recorder]})

    await asyncio.gather(*(serve(f"conv-{i}") for i in range(4)))
    runs = captured.runs
    check_tree_integrity(runs)
    for root in roots(runs):
        tree = {(r.conversation_id, r.grouping) for r in runs if r.root_run_id == root.run_id}
        assert tree == {(root.conversation_id, "context")}
    assert {r.conversation_id for r in roots(runs)} == {f"conv-{i}" for i in range(4)}
    by_id: dict[UUID, Any] = recorder.metadata
    assert {m["conversation_id"] for m in by_id.values()} == {f"conv-{i}" for i in range(4)}


def test_public_api_is_sorted_and_complete() -> None:
    """`__all__` is sorted and names every public attribute of the package."""
    public = {
        name
        for name, value in vars(convtrack_langchain).items()
        if not name.startswith("_") and callable(value)
    }
    assert convtrack_langchain.__all__ == sorted(convtrack_langchain.__all__)
    assert set(convtrack_langchain.__all__) == public
