"""A chat model calling an instrumented SDK (ChatOpenAI -> openai): nested, one decision a turn."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import anthropic
import convtrack_anthropic
import convtrack_langchain
import convtrack_openai
import openai
import pytest
from convtrack_langchain import ConversationCallbackHandler
from langchain_core.callbacks import AsyncCallbackManager, CallbackManager
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_support import chat_chain, check_tree_integrity
from sdk_models import AnthropicChat, OpenAIChat, SyncOnlyOpenAIChat, TwoCallsOpenAIChat

import convtrack as ct
from convtrack import Run
from convtrack._handle import current_run
from convtrack._patch import is_patched
from convtrack.fake_llm import FakeLLMServer
from convtrack.grouping import ConversationGrouper, Resolution
from convtrack.testing import CapturedRuns, capture_runs

ASIDE: list[Any] = [{"role": "user", "content": "aside"}]
MODES = ["invoke", "ainvoke", "stream", "astream", "invoke-streaming", "ainvoke-streaming"]
WRAPPED = [
    (BaseChatModel, "_generate_with_cache"),
    (BaseChatModel, "_agenerate_with_cache"),
    (BaseChatModel, "stream"),
    (BaseChatModel, "astream"),
    (CallbackManager, "on_chat_model_start"),
    (AsyncCallbackManager, "on_chat_model_start"),
    *(
        (BaseChatModel, name)
        for name in ("_iter_v2_events", "_aiter_v2_events")
        if hasattr(BaseChatModel, name)
    ),
]


class CountingGrouper(ConversationGrouper):
    """The default grouper, counting its decisions (`resolve` calls)."""

    def __init__(self) -> None:
        super().__init__()
        self.decisions = 0
        self._lock = threading.Lock()

    def resolve(self, messages: Any, **kwargs: Any) -> Resolution:
        """Count, then resolve."""
        with self._lock:
            self.decisions += 1
        return super().resolve(messages, **kwargs)

    async def aresolve(self, messages: Any, **kwargs: Any) -> Resolution:
        """Count, then resolve."""
        with self._lock:
            self.decisions += 1
        return await super().aresolve(messages, **kwargs)


@pytest.fixture(autouse=True)
def _sdks_uninstrumented() -> Iterator[None]:
    """Every test starts and ends with the SDK integrations off."""
    convtrack_openai.uninstrument()
    convtrack_anthropic.uninstrument()
    yield
    convtrack_openai.uninstrument()
    convtrack_anthropic.uninstrument()


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    """The fake OpenAI/Anthropic server."""
    with FakeLLMServer() as fake:
        yield fake


@pytest.fixture
def grouper() -> CountingGrouper:
    """A grouper counting its decisions."""
    return CountingGrouper()


@pytest.fixture
def captured(grouper: CountingGrouper) -> Iterator[CapturedRuns]:
    """Runs recorded in memory, grouped automatically by `grouper`."""
    with capture_runs(grouping=grouper) as runs:
        yield runs


@pytest.fixture
async def clients(server: FakeLLMServer) -> AsyncIterator[tuple[openai.OpenAI, openai.AsyncOpenAI]]:
    """A real sync and async openai client talking to the fake server."""
    url = server.openai_base_url
    with openai.OpenAI(base_url=url, api_key="test", max_retries=0) as sync:
        async with openai.AsyncOpenAI(base_url=url, api_key="test", max_retries=0) as aio:
            yield sync, aio


def model_for(clients: tuple[openai.OpenAI, openai.AsyncOpenAI], mode: str) -> OpenAIChat:
    """The chat model for a mode (`*-streaming`: a model that streams inside `invoke`)."""
    if mode.endswith("-streaming"):  # set only then: `streaming=False` disables `stream()` too
        return OpenAIChat(client=clients[0], async_client=clients[1], streaming=True)
    return OpenAIChat(client=clients[0], async_client=clients[1])


@pytest.fixture(params=["instrument", "handler"])
def callbacks(request: pytest.FixtureRequest) -> list[Any]:
    """The LangChain side, either way: `instrument()` (no callbacks) or a handler passed in."""
    convtrack_openai.instrument()
    if request.param == "instrument":
        convtrack_langchain.instrument()
        return []
    return [ConversationCallbackHandler()]


async def call(runnable: Runnable[Any, Any], mode: str, value: Any, config: RunnableConfig) -> Any:
    """Run `runnable` on `value` the way `mode` says; the answer as the app sends it back."""
    if mode.startswith("invoke"):
        return runnable.invoke(value, config)
    if mode.startswith("ainvoke"):
        return await runnable.ainvoke(value, config)
    if mode == "stream":
        chunks = list(runnable.stream(value, config))
    else:
        chunks = [chunk async for chunk in runnable.astream(value, config)]
    return AIMessage("".join(str(chunk.content) for chunk in chunks))


def llm_pairs(runs: Sequence[Run]) -> list[tuple[Run, Run]]:
    """(LangChain chat model run, SDK run) for each model call; every SDK run has its pair."""
    by_id = {run.run_id: run for run in runs}
    sdk = [r for r in runs if r.kind == "llm" and r.source in ("openai", "anthropic")]
    pairs = [(by_id[s.parent_run_id], s) for s in sdk if s.parent_run_id in by_id]
    assert len(pairs) == len(sdk), "an SDK call was not nested under its chat model run"
    assert all(lc.source == "langchain" and lc.kind == "llm" for lc, _ in pairs)
    assert len(pairs) == sum(r.kind == "llm" and r.source == "langchain" for r in runs)
    return sorted(pairs, key=lambda pair: pair[0].started_at)


@pytest.mark.parametrize("mode", MODES)
async def test_the_sdk_call_is_a_child_of_the_chat_model_run(
    mode: str, clients: Any, callbacks: list[Any], captured: CapturedRuns, grouper: CountingGrouper
) -> None:
    """The SDK run's parent is the LangChain LLM run; it takes its conversation, ungrouped."""
    answer = await call(model_for(clients, mode), mode, "hi", {"callbacks": callbacks})
    assert answer.content == "echo #1: hi"
    runs = captured.runs
    check_tree_integrity(runs)
    [(lc, sdk)] = llm_pairs(runs)
    assert grouper.decisions == 1
    assert sdk.root_run_id == lc.root_run_id == lc.run_id
    assert lc.conversation_id is not None
    assert (
        (sdk.conversation_id, sdk.grouping)
        == (lc.conversation_id, lc.grouping)
        == (
            lc.conversation_id,
            "auto-new",
        )
    )
    assert sdk.usage is not None
    assert lc.usage is not None
    assert sdk.usage["total_tokens"] == lc.usage["total_tokens"]
    assert sdk.ended_at <= lc.ended_at
    assert sdk.inputs == {"messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("mode", MODES)
async def test_three_turns_stay_one_conversation_with_one_decision_each(
    mode: str, clients: Any, callbacks: list[Any], captured: CapturedRuns, grouper: CountingGrouper
) -> None:
    """Over three turns of a chain sending its history back: one conversation, three decisions."""
    chain = chat_chain(model_for(clients, mode))
    history: list[BaseMessage] = []
    for question in ("hello", "and then?", "bye"):
        value = {"question": question, "history": history}
        answer = await call(chain, mode, value, {"callbacks": callbacks})
        history += [HumanMessage(question), AIMessage(answer.content)]
    runs = captured.runs
    check_tree_integrity(runs)
    pairs = llm_pairs(runs)
    assert len(pairs) == 3
    assert grouper.decisions == 3
    assert len({r.conversation_id for r in runs}) == 1
    assert [lc.grouping for lc, _ in pairs] == ["auto-new", "auto-matched", "auto-matched"]
    assert all(sdk.grouping == lc.grouping for lc, sdk in pairs)


@pytest.mark.parametrize("mode", ["invoke", "stream", "ainvoke", "astream"])
async def test_convtrack_instrument_all_records_each_turn_once(
    mode: str, clients: Any, captured: CapturedRuns, grouper: CountingGrouper
) -> None:
    """`convtrack.instrument()` (every integration): one decision per turn, one conversation."""
    assert {"langchain", "openai"} <= set(ct.instrument())
    try:
        chain = chat_chain(model_for(clients, mode))
        history: list[BaseMessage] = []
        for question in ("hello", "and then?", "bye"):
            answer = await call(chain, mode, {"question": question, "history": history}, {})
            history += [HumanMessage(question), AIMessage(answer.content)]
    finally:
        ct.uninstrument()
    runs = captured.runs
    assert len(llm_pairs(runs)) == 3
    assert grouper.decisions == 3
    assert len({r.conversation_id for r in runs}) == 1
    assert not any(is_patched(owner, name) for owner, name in WRAPPED)


@pytest.mark.parametrize("mode", ["ainvoke", "astream"])
async def test_a_handler_not_run_inline_nests_async_calls_too(
    mode: str, clients: Any, captured: CapturedRuns, grouper: CountingGrouper
) -> None:
    """`run_inline=False` (callbacks in the loop's thread pool): the SDK call still nests."""
    convtrack_openai.instrument()
    handler = ConversationCallbackHandler(run_inline=False)
    await call(
        chat_chain(model_for(clients, mode)), mode, {"question": "hi"}, {"callbacks": [handler]}
    )
    runs = captured.runs
    assert len(llm_pairs(runs)) == 1
    assert len({r.conversation_id for r in runs}) == 1
    assert grouper.decisions == 1


@pytest.mark.parametrize("mode", MODES)
async def test_inside_a_convtrack_conversation_nothing_is_grouped(
    mode: str, clients: Any, callbacks: list[Any], captured: CapturedRuns, grouper: CountingGrouper
) -> None:
    """Inside a conversation, the chat model run and its SDK call are in it; nothing is grouped."""
    chain = chat_chain(model_for(clients, mode))
    with ct.conversation("conv-ctx", user_id="user-1"):
        first = await call(chain, mode, {"question": "hi"}, {"callbacks": callbacks})
        history = [HumanMessage("hi"), AIMessage(first.content)]
        await call(chain, mode, {"question": "more", "history": history}, {"callbacks": callbacks})
    runs = captured.runs
    assert len(llm_pairs(runs)) == 2
    assert grouper.decisions == 0
    assert {(r.conversation_id, r.grouping, r.user_id) for r in runs} == {
        ("conv-ctx", "context", "user-1")
    }


async def test_a_thread_id_names_the_sdk_calls_conversation(
    clients: Any, callbacks: list[Any], captured: CapturedRuns, grouper: CountingGrouper
) -> None:
    """Run metadata `thread_id` is the conversation of the SDK call too."""
    config: RunnableConfig = {"callbacks": callbacks, "metadata": {"thread_id": "thread-9"}}
    await call(chat_chain(model_for(clients, "invoke")), "invoke", {"question": "hi"}, config)
    [(lc, sdk)] = llm_pairs(captured.runs)
    assert grouper.decisions == 0
    assert {(r.conversation_id, r.grouping) for r in (lc, sdk)} == {("thread-9", "explicit")}


async def test_generate_and_batch_nest_each_call_under_its_own_run(
    clients: Any, callbacks: list[Any], captured: CapturedRuns, grouper: CountingGrouper
) -> None:
    """`generate` of several prompts, `batch` (threads), `abatch`: each SDK call under its run."""
    model = model_for(clients, "invoke")
    config: RunnableConfig = {"callbacks": callbacks}
    model.generate([[HumanMessage("one")], [HumanMessage("two")]], callbacks=callbacks)
    await model.agenerate([[HumanMessage("three")], [HumanMessage("four")]], callbacks=callbacks)
    model.batch(["five", "six", "seven"], config)
    await model.abatch(["eight", "nine"], config)
    pairs = llm_pairs(captured.runs)
    assert len(pairs) == 9
    assert grouper.decisions == 9
    for lc, sdk in pairs:
        assert lc.inputs == sdk.inputs
        assert sdk.conversation_id == lc.conversation_id
    assert len({lc.conversation_id for lc, _ in pairs}) == 9


def test_each_sdk_call_of_one_model_run_is_its_child(
    clients: Any, callbacks: list[Any], captured: CapturedRuns, grouper: CountingGrouper
) -> None:
    """A model making two SDK calls for one answer: two children of its run, one decision."""
    TwoCallsOpenAIChat(client=clients[0]).invoke("hi", {"callbacks": callbacks})
    runs = captured.runs
    [lc] = [r for r in runs if r.source == "langchain"]
    children = [r for r in runs if r.source == "openai"]
    assert len(children) == 2
    assert all(r.parent_run_id == lc.run_id for r in children)
    assert {r.conversation_id for r in runs} == {lc.conversation_id}
    assert grouper.decisions == 1


@pytest.mark.parametrize("mode", ["ainvoke", "astream"])
async def test_a_model_without_async_code_nests_its_calls_from_the_thread_pool(
    mode: str, clients: Any, callbacks: list[Any], captured: CapturedRuns, grouper: CountingGrouper
) -> None:
    """Async calls of a sync-only model run it in a thread pool: its SDK call still nests."""
    model = SyncOnlyOpenAIChat(client=clients[0])
    answer = await call(model, mode, "hi", {"callbacks": callbacks})
    assert answer.content == "echo #1: hi"
    [(lc, sdk)] = llm_pairs(captured.runs)
    assert sdk.conversation_id == lc.conversation_id
    assert grouper.decisions == 1


async def test_astream_events_nests_the_sdk_call(
    clients: Any, callbacks: list[Any], captured: CapturedRuns, grouper: CountingGrouper
) -> None:
    """`astream_events` (what LangGraph apps stream) over a chain: the SDK call nests."""
    chain = chat_chain(model_for(clients, "astream"))
    config: RunnableConfig = {"callbacks": callbacks}
    kinds = [e["event"] async for e in chain.astream_events({"question": "hi"}, config)]
    assert "on_chat_model_stream" in kinds
    runs = captured.runs
    check_tree_integrity(runs)
    assert len(llm_pairs(runs)) == 1
    assert len({r.conversation_id for r in runs}) == 1
    assert grouper.decisions == 1


@pytest.mark.skipif(
    not hasattr(BaseChatModel, "_iter_v2_events"), reason="no stream_events v3 in this version"
)
@pytest.mark.filterwarnings("ignore::langchain_core._api.beta_decorator.LangChainBetaWarning")
async def test_stream_events_v3_nests_the_sdk_call(
    clients: Any, callbacks: list[Any], captured: CapturedRuns, grouper: CountingGrouper
) -> None:
    """`stream_events(version="v3")` (beta), sync and async: the SDK calls nest."""
    model = model_for(clients, "stream")
    config: RunnableConfig = {"callbacks": callbacks}
    stream = model.stream_events("hi", config, version="v3")
    assert stream.output.text == "echo #1: hi"
    astream = await model.astream_events("hi", config, version="v3")
    output = await astream.output
    assert output.text == "echo #1: hi"
    producer = astream._producer_task  # the run ends just after the output is complete
    assert producer is not None
    await producer
    pairs = llm_pairs(captured.runs)
    assert len(pairs) == 2
    assert all(sdk.conversation_id == lc.conversation_id for lc, sdk in pairs)
    assert grouper.decisions == 2


@pytest.mark.parametrize("mode", ["stream", "astream"])
async def test_code_between_chunks_is_not_inside_the_model_run(
    mode: str, clients: Any, callbacks: list[Any], captured: CapturedRuns, grouper: CountingGrouper
) -> None:
    """While a stream is consumed, the consumer's own code (and SDK calls) is not nested in it."""
    model = model_for(clients, mode)
    config: RunnableConfig = {"callbacks": callbacks}
    seen: list[Any] = []
    if mode == "stream":
        for chunk in model.stream("hi", config):
            seen.append(current_run())
            if len(seen) == 1:
                clients[0].chat.completions.create(model="gpt-test", messages=ASIDE)
            assert chunk is not None
    else:
        async for chunk in model.astream("hi", config):
            seen.append(current_run())
            if len(seen) == 1:
                await clients[1].chat.completions.create(model="gpt-test", messages=ASIDE)
            assert chunk is not None
    assert len(seen) > 1
    assert seen == [None] * len(seen)
    runs = captured.runs
    aside = [r for r in runs if r.source == "openai" and r.parent_run_id is None]
    assert len(aside) == 1
    assert len(llm_pairs([r for r in runs if r is not aside[0]])) == 1
    assert grouper.decisions == 2


@pytest.mark.parametrize("mode", ["invoke", "ainvoke", "stream", "astream"])
async def test_an_sdk_error_is_recorded_on_both_runs_and_reaches_the_caller(
    mode: str,
    server: FakeLLMServer,
    clients: Any,
    callbacks: list[Any],
    captured: CapturedRuns,
) -> None:
    """A failing SDK call: both runs record the error; the caller gets the SDK's exception."""
    server.fail_next(500)
    with pytest.raises(openai.InternalServerError):
        await call(model_for(clients, mode), mode, "hi", {"callbacks": callbacks})
    [(lc, sdk)] = llm_pairs(captured.runs)
    assert (lc.status, sdk.status) == ("error", "error")
    assert lc.error is not None
    assert lc.error.startswith("InternalServerError")
    assert sdk.conversation_id == lc.conversation_id


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
async def test_anthropic_calls_nest_under_the_chat_model_run_too(
    mode: str, server: FakeLLMServer, captured: CapturedRuns, grouper: CountingGrouper
) -> None:
    """The same holds for a chat model calling the anthropic client (ChatAnthropic's way)."""
    convtrack_anthropic.instrument()
    convtrack_langchain.instrument()
    url = server.anthropic_base_url
    with anthropic.Anthropic(base_url=url, api_key="test", max_retries=0) as sync:
        async with anthropic.AsyncAnthropic(base_url=url, api_key="test", max_retries=0) as aio:
            model = AnthropicChat(client=sync, async_client=aio)
            chain = chat_chain(model)
            history: list[BaseMessage] = []
            for question in ("hello", "again"):
                answer = await call(chain, mode, {"question": question, "history": history}, {})
                history += [HumanMessage(question), answer]
    pairs = llm_pairs(captured.runs)
    assert len(pairs) == 2
    assert grouper.decisions == 2
    assert {sdk.source for _, sdk in pairs} == {"anthropic"}
    assert len({r.conversation_id for r in captured.runs}) == 1


@pytest.mark.parametrize("first", ["openai", "langchain"])
@pytest.mark.parametrize("undo_first", ["openai", "langchain"])
async def test_instrument_and_uninstrument_in_either_order(
    first: str, undo_first: str, clients: Any, captured: CapturedRuns
) -> None:
    """Whichever is instrumented first, calls nest; undoing one leaves the other recording alone."""
    steps = {"openai": convtrack_openai, "langchain": convtrack_langchain}
    second = "langchain" if first == "openai" else "openai"
    steps[first].instrument()
    steps[second].instrument()
    model = model_for(clients, "invoke")
    model.invoke("one")
    assert len(llm_pairs(captured.runs)) == 1
    steps[undo_first].uninstrument()
    captured.clear()
    model.invoke("two")
    [alone] = captured.runs
    assert alone.parent_run_id is None
    assert alone.source == ("langchain" if undo_first == "openai" else "openai")
    assert alone.grouping == "auto-new"
    other = "langchain" if undo_first == "openai" else "openai"
    steps[other].uninstrument()
    assert not any(is_patched(owner, name) for owner, name in WRAPPED)
    captured.clear()
    model.invoke("three")
    assert captured.runs == ()


def test_uninstrument_unwraps_chat_models_and_a_handler_in_use_wraps_them_again(
    clients: Any, captured: CapturedRuns
) -> None:
    """`uninstrument()` removes the wrappers; a handler still passed to runs puts them back."""
    convtrack_langchain.instrument()
    assert all(is_patched(owner, name) for owner, name in WRAPPED)
    convtrack_langchain.uninstrument()
    assert not any(is_patched(owner, name) for owner, name in WRAPPED)
    handler = ConversationCallbackHandler()  # a handler alone is enough
    assert all(is_patched(owner, name) for owner, name in WRAPPED)
    convtrack_langchain.uninstrument()
    convtrack_openai.instrument()
    model_for(clients, "invoke").invoke("hi", {"callbacks": [handler]})  # its start wraps them
    assert all(is_patched(owner, name) for owner, name in WRAPPED)
    model_for(clients, "invoke").invoke("hi", {"callbacks": [handler]})
    assert len(llm_pairs(captured.runs)) == 2


@pytest.mark.parametrize("mode", MODES)
async def test_without_a_pipeline_the_model_works_and_nothing_is_kept(
    mode: str, clients: Any, callbacks: list[Any]
) -> None:
    """Before `configure()`, the wrappers pass through: same answers, no runs, no open runs."""
    answer = await call(model_for(clients, mode), mode, "hi", {"callbacks": callbacks})
    assert answer.content == "echo #1: hi"
    handler = callbacks[0] if callbacks else convtrack_langchain.instrumented_handler()
    assert handler is not None
    assert handler.open_runs == 0
