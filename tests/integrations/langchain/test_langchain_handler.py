"""ConversationCallbackHandler passed in callbacks: conversations, runs, parents, errors."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from convtrack_langchain import ConversationCallbackHandler
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda, RunnableParallel
from langchain_support import (
    EchoChat,
    EventRecorder,
    KeywordRetriever,
    chat_chain,
    check_tree_integrity,
    double,
    fanout_chain,
    lookup_order,
    rag_chain,
    roots,
)

import convtrack as ct
from convtrack.testing import CapturedRuns, capture_runs


def config(handler: ConversationCallbackHandler, **metadata: Any) -> RunnableConfig:
    """A run config passing the handler (and metadata)."""
    return {"callbacks": [handler], "metadata": metadata}


@pytest.mark.parametrize("key", ["conversation_id", "thread_id", "session_id"])
def test_a_metadata_id_names_the_conversation_of_every_run(
    key: str, captured: CapturedRuns, handler: ConversationCallbackHandler
) -> None:
    """Metadata conversation_id, thread_id or session_id is every run's explicit conversation."""
    answer = rag_chain().invoke({"question": "refund?"}, config(handler, **{key: "conv-7"}))
    assert answer == "echo: refund?"
    runs = captured.runs
    assert len(runs) >= 8
    assert {(r.conversation_id, r.grouping, r.source) for r in runs} == {
        ("conv-7", "explicit", "langchain")
    }


def test_conversation_id_wins_over_thread_id_and_session_id(
    captured: CapturedRuns, handler: ConversationCallbackHandler
) -> None:
    """With several id keys, conversation_id wins, then thread_id, then session_id."""
    chain = RunnableLambda(lambda x: x)
    chain.invoke(1, config(handler, session_id="s", thread_id="t", conversation_id="c"))
    chain.invoke(1, config(handler, session_id="s", thread_id="t"))
    assert [r.conversation_id for r in captured.runs] == ["c", "t"]


def test_langgraph_style_thread_id_metadata_names_the_conversation(
    captured: CapturedRuns, handler: ConversationCallbackHandler
) -> None:
    """LangGraph copies configurable.thread_id into run metadata: that names the conversation."""
    langgraph_like = config(handler, thread_id="thread-1", checkpoint_ns="", langgraph_step=1)
    langgraph_like["configurable"] = {"thread_id": "thread-1", "checkpoint_ns": ""}
    chat_chain().invoke({"question": "hi"}, langgraph_like)
    runs = captured.runs
    assert {(r.conversation_id, r.grouping) for r in runs} == {("thread-1", "explicit")}
    assert all(r.metadata["thread_id"] == "thread-1" for r in runs)


def test_the_convtrack_conversation_is_the_context_of_runs_without_an_id(
    captured: CapturedRuns, handler: ConversationCallbackHandler
) -> None:
    """Without a metadata id, the convtrack conversation current at the root's start is used."""
    with ct.conversation("conv-ctx", user_id="user-1", agent_id="support"):
        rag_chain().invoke({"question": "ship?"}, config(handler))
    assert {(r.conversation_id, r.grouping, r.user_id, r.agent_id) for r in captured.runs} == {
        ("conv-ctx", "context", "user-1", "support")
    }


def test_a_metadata_id_wins_over_the_context(
    captured: CapturedRuns, handler: ConversationCallbackHandler
) -> None:
    """An id the run carries beats the surrounding convtrack conversation (the user stays)."""
    with ct.conversation("conv-ctx", user_id="user-1"):
        RunnableLambda(lambda x: x).invoke(1, config(handler, thread_id="thread-9"))
    (run,) = captured.runs
    assert (run.conversation_id, run.grouping, run.user_id) == ("thread-9", "explicit", "user-1")


def test_children_on_a_thread_without_the_context_take_the_roots_conversation(
    captured: CapturedRuns, handler: ConversationCallbackHandler
) -> None:
    """The context is captured when the root starts: a child run on a bare thread still joins."""
    inner = RunnableLambda(double, name="inner")

    def outer(x: int, config: RunnableConfig) -> int:
        out: list[int] = []
        worker = threading.Thread(target=lambda: out.append(inner.invoke(x, config)))
        worker.start()  # a plain thread: it does not inherit the convtrack context
        worker.join()
        return out[0]

    with ct.conversation("conv-ctx"):
        assert RunnableLambda(outer, name="outer").invoke(2, config(handler)) == 4
    runs = {r.name: r for r in captured.runs}
    assert runs["inner"].parent_run_id == runs["outer"].run_id
    assert {(r.conversation_id, r.grouping) for r in runs.values()} == {("conv-ctx", "context")}


def test_a_three_turn_chat_without_ids_is_grouped_into_one_conversation(
    captured: CapturedRuns, handler: ConversationCallbackHandler
) -> None:
    """A chat model called with the history (AIMessages sent back) keeps one conversation."""
    model = EchoChat()
    history: list[Any] = [SystemMessage("You are terse.")]
    other = [SystemMessage("You are terse."), HumanMessage("unrelated")]
    for question in ["Hi", "Where is my order?", "Thanks"]:
        history.append(HumanMessage(question))
        reply = model.invoke(history, config(handler))
        history.append(reply)  # the AIMessage itself goes back next turn
        model.invoke(other, config(handler))  # a second chat, interleaved, never continued
    runs = captured.runs
    turns = [r for r in runs if r.inputs["messages"][1]["content"] == "Hi"]
    assert [r.grouping for r in turns] == ["auto-new", "auto-matched", "auto-matched"]
    assert len({r.conversation_id for r in turns}) == 1
    others = [r for r in runs if r not in turns]
    assert all(r.grouping == "auto-new" for r in others)
    assert len({r.conversation_id for r in others} | {turns[0].conversation_id}) == 4


def test_an_auto_grouped_chain_puts_its_root_and_later_runs_in_the_conversation(
    captured: CapturedRuns, handler: ConversationCallbackHandler
) -> None:
    """In a chain without ids, the chat model's automatic grouping becomes the tree's."""
    chain = chat_chain()
    history: list[Any] = []
    for question in ["Hi", "And then?"]:
        reply = chain.invoke({"question": question, "history": history}, config(handler))
        history += [HumanMessage(question), reply]
    runs = captured.runs
    by_root = {r.run_id: r for r in roots(runs)}
    first, second = by_root.values()
    assert first.grouping == "auto-new"
    assert second.grouping == "auto-matched"
    assert first.conversation_id == second.conversation_id
    models = [r for r in runs if r.kind.value == "llm"]
    assert [r.conversation_id for r in models] == [first.conversation_id] * 2
    # runs that ended before the chat model decided (the prompt) were held back, then adopted
    assert {r.conversation_id for r in runs} == {first.conversation_id}
    assert len(runs) > 2 * len(models)
    check_tree_integrity(runs)


def test_a_pending_tree_that_never_decides_still_emits_every_run(
    captured: CapturedRuns, handler: ConversationCallbackHandler
) -> None:
    """A chain with no id and no chat model: its held runs are emitted when the root ends."""
    chain = RunnableLambda(lambda x: x + 1) | RunnableLambda(lambda x: x * 2)
    assert chain.invoke(1, config(handler)) == 4
    runs = captured.runs
    assert len(runs) == 3
    assert {r.conversation_id for r in runs} == {None}
    assert handler.open_runs == 0
    check_tree_integrity(runs)


def test_parents_and_run_ids_are_langchains_own(
    captured: CapturedRuns, handler: ConversationCallbackHandler
) -> None:
    """Run ids and parents are LangChain's, every parent is recorded, one root per invocation."""
    recorder = EventRecorder()
    chain = rag_chain() | RunnableParallel(answer=RunnableLambda(lambda a: a), n=len)
    cfg: RunnableConfig = {"callbacks": [handler, recorder], "metadata": {"thread_id": "t"}}
    chain.invoke({"question": "order?"}, cfg)
    chain.invoke({"question": "refund?"}, cfg)
    runs = captured.runs
    check_tree_integrity(runs)
    assert len(roots(runs)) == 2
    assert {r.run_id: r.parent_run_id for r in runs} == {
        str(run_id): (str(parent) if parent else None)
        for run_id, parent in recorder.started.items()
    }
    kinds = {r.kind.value for r in runs}
    assert kinds == {"chain", "llm", "retriever"}


def test_batch_runs_are_one_root_each_across_threads(
    captured: CapturedRuns, handler: ConversationCallbackHandler
) -> None:
    """`.batch` (a thread pool) gives one tree per input, each in its own conversation."""
    chain = fanout_chain()
    configs: list[RunnableConfig] = [config(handler, thread_id=f"t{i}") for i in range(6)]
    assert chain.batch(list(range(6)), configs)[5] == {"double": 12, "triple": 18}
    runs = captured.runs
    check_tree_integrity(runs)
    assert len(roots(runs)) == 6
    for root in roots(runs):
        tree = [r for r in runs if r.root_run_id == root.run_id]
        assert len(tree) == 5  # the sequence, its lambda, the parallel and its two lambdas
        assert {r.conversation_id for r in tree} == {root.conversation_id}
    assert handler.open_runs == 0


@pytest.mark.parametrize("run_inline", [True, False], ids=["on-the-loop", "thread-pool"])
async def test_astream_records_the_streamed_model_run(
    captured: CapturedRuns, run_inline: bool
) -> None:
    """`.astream` of a chain records every run, the model's marked as streamed."""
    handler = ConversationCallbackHandler(run_inline=run_inline)
    model = GenericFakeChatModel(
        messages=iter(
            [
                AIMessage(
                    "Parcels ship daily.",
                    usage_metadata={"input_tokens": 5, "output_tokens": 3, "total_tokens": 8},
                )
            ]
        )
    )
    chunks = [
        c
        async for c in rag_chain(model).astream(
            {"question": "ship?"}, config(handler, session_id="s-1")
        )
    ]
    assert "".join(chunks) == "Parcels ship daily."
    runs = captured.runs
    check_tree_integrity(runs)
    (llm,) = [r for r in runs if r.kind.value == "llm"]
    assert llm.metadata["stream"] is True
    assert llm.outputs == {"role": "assistant", "content": "Parcels ship daily."}
    assert {r.conversation_id for r in runs} == {"s-1"}
    assert handler.open_runs == 0


def order_arguments(text: str) -> dict[str, str]:
    """The tool's arguments from the user's text."""
    return {"order_id": text.strip("#")}


def test_a_tool_run_records_its_arguments_and_output(
    captured: CapturedRuns, handler: ConversationCallbackHandler
) -> None:
    """Invoking a `@tool` inside a chain records a tool run, child of the chain."""
    chain = RunnableLambda(order_arguments) | lookup_order
    assert chain.invoke("#123", config(handler, thread_id="t")) == "order 123: shipped"
    runs = captured.runs
    (tool_run,) = [r for r in runs if r.kind.value == "tool"]
    assert tool_run.name == "lookup_order"
    assert tool_run.inputs == {"order_id": "123"}
    assert tool_run.outputs == "order 123: shipped"
    assert tool_run.conversation_id == "t"
    check_tree_integrity(runs)


def test_retriever_run_records_the_query_and_documents(
    captured: CapturedRuns, handler: ConversationCallbackHandler
) -> None:
    """A retriever run holds the query and the documents as plain dicts."""
    KeywordRetriever().invoke("refund please", config(handler))
    (run,) = captured.runs
    assert run.kind.value == "retriever"
    assert run.inputs == {"query": "refund please"}
    assert run.outputs == {
        "documents": [
            {
                "page_content": "Refunds are accepted within 30 days.",
                "metadata": {"topic": "refund"},
            }
        ]
    }


def test_an_llm_run_follows_the_convtrack_conventions(
    captured: CapturedRuns, handler: ConversationCallbackHandler
) -> None:
    """A chat model run: kind llm, messages in, assistant dict out, usage and model recorded."""
    chat_chain().invoke({"question": "Hi"}, config(handler, thread_id="t"))
    (llm,) = [r for r in captured.runs if r.kind.value == "llm"]
    assert llm.name == "EchoChat"
    assert llm.inputs == {
        "messages": [
            {"role": "system", "content": "You are a support assistant."},
            {"role": "user", "content": "Hi"},
        ]
    }
    assert llm.outputs == {"role": "assistant", "content": "echo: Hi"}
    assert llm.usage == {"input_tokens": 2, "output_tokens": 2, "total_tokens": 4}
    assert llm.model == "echo-1"
    assert llm.metadata["ls_provider"] == "echo"


def test_usage_reported_in_llm_output_is_normalised(
    captured: CapturedRuns, handler: ConversationCallbackHandler
) -> None:
    """OpenAI-style token_usage in llm_output becomes input/output/total tokens."""
    EchoChat(report_in_llm_output=True).invoke("Hi", config(handler))
    (llm,) = captured.runs
    assert llm.usage == {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}
    assert llm.model == "echo-legacy-1"


def test_a_text_completion_llm_is_recorded(
    captured: CapturedRuns, handler: ConversationCallbackHandler
) -> None:
    """A (non-chat) LLM run records its prompt and completion."""
    FakeListLLM(responses=["42"]).invoke("meaning of life?", config(handler, thread_id="t"))
    (llm,) = captured.runs
    assert (llm.kind.value, llm.conversation_id) == ("llm", "t")
    assert llm.inputs == {"prompt": "meaning of life?"}
    assert llm.outputs == {"role": "assistant", "content": "42"}


class BoomError(Exception):
    """The application's own exception."""


def test_an_exception_is_recorded_and_passes_unchanged(
    captured: CapturedRuns, handler: ConversationCallbackHandler
) -> None:
    """The chain's exception reaches the caller as the same object; failing runs are errors."""
    error = BoomError("no stock")

    def fail(_: Any) -> None:
        raise error

    chain = RunnableLambda(lambda x: x) | RunnableLambda(fail, name="fail")
    with pytest.raises(BoomError) as raised:
        chain.invoke(1, config(handler, thread_id="t"))
    assert raised.value is error
    runs = {r.name: r for r in captured.runs}
    assert runs["fail"].status == "error"
    assert runs["fail"].error == "BoomError: no stock"
    assert runs["RunnableSequence"].status == "error"
    assert runs["RunnableLambda"].status == "ok"
    assert handler.open_runs == 0


async def test_an_async_exception_is_recorded_and_passes_unchanged(
    captured: CapturedRuns, handler: ConversationCallbackHandler
) -> None:
    """`.ainvoke` of a failing chain raises the same exception; its runs are errors."""
    error = BoomError("async")

    async def fail(_: Any) -> None:
        raise error

    with pytest.raises(BoomError) as raised:
        await RunnableLambda(fail, name="fail").ainvoke(1, config(handler))
    assert raised.value is error
    (run,) = captured.runs
    assert (run.status, run.error) == ("error", "BoomError: async")


def test_without_capture_content_no_inputs_or_outputs_are_kept(
    handler: ConversationCallbackHandler,
) -> None:
    """With capture_content off, runs hold no inputs, outputs (usage and model stay)."""
    with capture_runs(capture_content=False) as captured:
        chat_chain().invoke({"question": "secret"}, config(handler))
    runs = captured.runs
    assert runs
    assert all(r.inputs is None and r.outputs is None for r in runs)
    (llm,) = [r for r in runs if r.kind.value == "llm"]
    assert llm.usage is not None


def test_nothing_is_recorded_or_kept_when_convtrack_is_not_configured(
    handler: ConversationCallbackHandler,
) -> None:
    """Unconfigured, the handler builds no runs and keeps no state; the chain works."""
    assert rag_chain().invoke({"question": "x"}, config(handler)) == "echo: x"
    assert handler.open_runs == 0


def test_a_chain_inside_a_traced_step_is_its_child(
    captured: CapturedRuns, handler: ConversationCallbackHandler
) -> None:
    """A root LangChain run started inside a convtrack step is that step's child."""

    @ct.trace(name="turn", kind="chain")
    def turn() -> str:
        result: str = RunnableLambda(lambda x: x.upper(), name="upper").invoke("a", config(handler))
        return result

    with ct.conversation("conv-1"):
        turn()
    runs = {r.name: r for r in captured.runs}
    assert runs["upper"].parent_run_id == runs["turn"].run_id
    assert runs["upper"].root_run_id == runs["turn"].run_id
    assert runs["upper"].conversation_id == "conv-1"


def test_an_agent_loop_without_ids_stays_in_one_conversation_across_turns(
    captured: CapturedRuns, handler: ConversationCallbackHandler
) -> None:
    """Model, tool, model in one turn, then a turn sending it all back: one conversation."""
    call = {"id": "call-1", "name": "lookup_order", "args": {"order_id": "123"}}
    model = GenericFakeChatModel(
        messages=iter(
            [
                AIMessage("", tool_calls=[call]),
                AIMessage("Order 123 has shipped."),
                AIMessage("You're welcome."),
            ]
        )
    )

    def agent(messages: list[Any]) -> list[Any]:
        messages = list(messages)
        reply = model.invoke(messages)
        while reply.tool_calls:
            messages.append(reply)
            messages += [lookup_order.invoke(tool_call) for tool_call in reply.tool_calls]
            reply = model.invoke(messages)
        return [*messages, reply]

    chat = RunnableLambda(agent, name="agent")
    history = chat.invoke([HumanMessage("Where is order 123?")], config(handler))
    chat.invoke([*history, HumanMessage("Thanks!")], config(handler))
    runs = captured.runs
    check_tree_integrity(runs)
    first, second = roots(runs)
    assert (first.grouping, second.grouping) == ("auto-new", "auto-matched")
    assert {r.conversation_id for r in runs} == {first.conversation_id}
    assert [r.kind.value for r in runs if r.root_run_id == first.run_id] == [
        "llm",
        "tool",
        "llm",
        "chain",
    ]
    after_tool = [r for r in runs if r.kind.value == "llm"][1]
    assert after_tool.inputs["messages"][1:] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "type": "function",
                    "id": "call-1",
                    "function": {"name": "lookup_order", "arguments": '{"order_id": "123"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call-1", "content": "order 123: shipped"},
    ]
