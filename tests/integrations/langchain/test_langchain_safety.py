"""The handler's memory is bounded, it is thread-safe, its own failures never reach a chain."""

from __future__ import annotations

import logging
import sys
import threading
import uuid
from typing import Any

import convtrack_langchain
import pytest
from convtrack_langchain import ConversationCallbackHandler, _convert, _recorder
from langchain_core.runnables import RunnableLambda
from langchain_support import chat_chain, check_tree_integrity, double, rag_chain, roots

import convtrack as ct
from convtrack.testing import CapturedRuns


def test_a_thousand_runs_leave_no_state_behind(
    captured: CapturedRuns, handler: ConversationCallbackHandler
) -> None:
    """After 1000 ended runs (chains, models, retrievers) the handler holds nothing."""
    chain = rag_chain()
    for i in range(91):  # 11 runs per invocation
        chain.invoke({"question": f"refund {i}?"}, {"callbacks": [handler]})
    runs = captured.runs
    assert len(runs) == 1001
    assert handler.open_runs == 0


def test_a_thousand_instrumented_runs_leave_no_state_behind(captured: CapturedRuns) -> None:
    """The instrumented handler holds nothing once 1000 runs have ended."""
    convtrack_langchain.instrument()
    chain = RunnableLambda(lambda x: x) | RunnableLambda(lambda x: x)
    chain.batch(list(range(334)))  # 3 runs each, on a thread pool
    handler = convtrack_langchain.instrumented_handler()
    assert handler is not None
    assert len(captured.runs) == 1002
    assert handler.open_runs == 0


def test_runs_that_never_end_are_capped(
    captured: CapturedRuns, caplog: pytest.LogCaptureFixture
) -> None:
    """Never-ended runs beyond max_open_runs are forgotten (logged); the newest still end."""
    handler = ConversationCallbackHandler(max_open_runs=100)
    ids = [uuid.uuid4() for _ in range(1000)]
    with caplog.at_level(logging.WARNING, logger="convtrack"):
        for run_id in ids:
            handler.on_chain_start({}, {"n": 1}, run_id=run_id, metadata={"thread_id": "t"})
    assert handler.open_runs == 100
    assert "too many open runs" in caplog.text
    handler.on_chain_end({}, run_id=ids[0])  # forgotten: nothing to end
    handler.on_chain_end({}, run_id=ids[-1])
    assert [r.run_id for r in captured.runs] == [str(ids[-1])]
    assert handler.open_runs == 99


def test_a_child_of_a_forgotten_run_is_recorded_as_a_root(captured: CapturedRuns) -> None:
    """A run whose parent was forgotten is recorded without a dangling parent id."""
    handler = ConversationCallbackHandler(max_open_runs=1)
    parent, other, child = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    handler.on_chain_start({}, {}, run_id=parent, metadata={"thread_id": "t"})
    handler.on_chain_start({}, {}, run_id=other)
    handler.on_chain_start({}, {}, run_id=child, parent_run_id=parent)
    handler.on_chain_end({}, run_id=child)
    (run,) = captured.runs
    assert run.parent_run_id is None
    assert run.root_run_id == run.run_id == str(child)


def test_max_open_runs_is_checked() -> None:
    """max_open_runs must be a positive int."""
    with pytest.raises(ValueError):
        ConversationCallbackHandler(max_open_runs=0)
    with pytest.raises(TypeError):
        ConversationCallbackHandler(max_open_runs=1.5)  # type: ignore[arg-type]


def test_one_handler_shared_by_many_threads(
    captured: CapturedRuns, handler: ConversationCallbackHandler
) -> None:
    """Eight threads invoking chains through one handler: every tree intact, nothing left."""
    chain = rag_chain()

    def work(n: int) -> None:
        for i in range(20):
            chain.invoke(
                {"question": "ship?"},
                {"callbacks": [handler], "metadata": {"thread_id": f"t{n}-{i}"}},
            )

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    runs = captured.runs
    check_tree_integrity(runs)
    assert len(roots(runs)) == 160
    for root in roots(runs):
        assert {r.conversation_id for r in runs if r.root_run_id == root.run_id} == {
            root.conversation_id
        }
    assert handler.open_runs == 0


def broken(*args: Any, **kwargs: Any) -> Any:
    """Stands in for a convtrack function with a bug."""
    raise RuntimeError("convtrack bug")


def test_a_failure_starting_runs_never_reaches_the_chain(
    captured: CapturedRuns,
    handler: ConversationCallbackHandler,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """When starting runs fails inside convtrack, the chain's result is unchanged."""
    monkeypatch.setattr(_recorder, "start_run", broken)
    with caplog.at_level(logging.WARNING, logger="convtrack"):
        answer = chat_chain().invoke({"question": "hi"}, {"callbacks": [handler]})
    assert answer.content == "echo: hi"
    assert "convtrack bug" in caplog.text
    assert captured.runs == ()
    assert handler.open_runs == 0


def test_a_failure_reading_results_still_ends_every_run(
    captured: CapturedRuns,
    handler: ConversationCallbackHandler,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """When reading an answer or remembering a history fails, runs still end; the chain works."""
    monkeypatch.setattr(_convert, "usage", broken)
    monkeypatch.setattr(_convert, "_plain", broken)
    monkeypatch.setattr(_recorder, "remember", broken)
    with caplog.at_level(logging.WARNING, logger="convtrack"):
        answer = chat_chain().invoke({"question": "hi"}, {"callbacks": [handler]})
    assert answer.content == "echo: hi"
    assert "convtrack bug" in caplog.text
    runs = captured.runs
    assert len(runs) == 3
    assert all(r.status == "ok" for r in runs)
    (llm,) = [r for r in runs if r.kind.value == "llm"]
    assert llm.usage is None
    assert llm.outputs == {"role": "assistant", "content": "echo: hi"}
    assert handler.open_runs == 0


def test_a_failing_metadata_hook_never_reaches_the_chain(
    captured: CapturedRuns, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A failure while adding conversation metadata leaves the run as LangChain made it."""
    from convtrack_langchain import _instrument

    monkeypatch.setattr(_instrument, "_add_conversation_metadata", broken)
    convtrack_langchain.instrument()
    with caplog.at_level(logging.WARNING, logger="convtrack"), ct.conversation("conv-1"):
        assert RunnableLambda(double).invoke(2) == 4
    assert [r.conversation_id for r in captured.runs] == ["conv-1"]
    assert "convtrack bug" in caplog.text


def test_a_handler_survives_copying_of_configs(handler: ConversationCallbackHandler) -> None:
    """Copying a config (even deeply) keeps the one handler and its state."""
    import copy

    assert copy.copy(handler) is handler
    assert copy.deepcopy({"callbacks": [handler]})["callbacks"][0] is handler


def test_missing_langchain_core_says_how_to_fix_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without langchain-core, importing the integration names the package to install."""
    for name in [n for n in sys.modules if n.startswith(("convtrack_langchain", "langchain_core"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "langchain_core", None)
    with pytest.raises(ImportError, match="pip install convtrack-langchain"):
        import convtrack_langchain  # noqa: F401
