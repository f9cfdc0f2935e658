"""The real ChatOpenAI (langchain-openai) used directly, against the fake server over HTTP."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import convtrack_langchain
import convtrack_openai
import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_openai import ChatOpenAI

from convtrack import Run
from convtrack.fake_llm import FakeLLMServer
from convtrack.testing import CapturedRuns

# langchain-openai keeps one async HTTP client per base URL for the process: one event loop
pytestmark = pytest.mark.asyncio(loop_scope="module")
MODES = ["invoke", "ainvoke", "stream", "astream", "batch", "abatch"]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    """The fake OpenAI server."""
    with FakeLLMServer() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _no_openai_left() -> Iterator[None]:
    """Leave the openai integration uninstrumented after every test."""
    yield
    convtrack_openai.uninstrument()


def chat_model(server: FakeLLMServer) -> ChatOpenAI:
    """A real ChatOpenAI pointed at the fake server (usage reported when streaming too)."""
    return ChatOpenAI(
        model="gpt-test",
        base_url=server.openai_base_url,
        api_key="test",
        max_retries=0,
        stream_usage=True,
    )


async def call(model: ChatOpenAI, mode: str, messages: list[BaseMessage], config: Any) -> str:
    """One call of `model` made `mode`; the answer's text."""
    if mode == "invoke":
        return str(model.invoke(messages, config).content)
    if mode == "ainvoke":
        return str((await model.ainvoke(messages, config)).content)
    if mode == "stream":
        return "".join(str(chunk.content) for chunk in model.stream(messages, config))
    if mode == "astream":
        return "".join([str(chunk.content) async for chunk in model.astream(messages, config)])
    if mode == "batch":
        return str(model.batch([messages], config)[0].content)
    return str((await model.abatch([messages], config))[0].content)


def by_source(runs: list[Run], source: str) -> list[Run]:
    """The LLM runs one integration recorded."""
    return [run for run in runs if run.kind == "llm" and run.source == source]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("key", ["thread_id", "session_id", "conversation_id"])
async def test_a_bare_chat_model_call_takes_its_configurable_id(
    mode: str, key: str, server: FakeLLMServer, captured: CapturedRuns
) -> None:
    """`configurable={"thread_id": ...}` names a bare ChatOpenAI call's conversation."""
    convtrack_langchain.instrument()
    convtrack_openai.instrument()
    config: dict[str, Any] = {"configurable": {key: "thread-9"}}
    before = copy.deepcopy(config)
    text = await call(chat_model(server), mode, [HumanMessage("hi")], config)
    assert text == "echo #1: hi"
    assert config == before  # the caller's config is not changed
    (outer,) = by_source(list(captured.runs), "langchain")
    (inner,) = by_source(list(captured.runs), "openai")
    assert (outer.conversation_id, outer.grouping) == ("thread-9", "explicit")
    assert inner.conversation_id == "thread-9"
    assert inner.parent_run_id == outer.run_id


async def test_a_metadata_id_wins_over_configurable(
    server: FakeLLMServer, captured: CapturedRuns
) -> None:
    """A call whose metadata names its conversation keeps it."""
    convtrack_langchain.instrument()
    config: Any = {"metadata": {"thread_id": "meta"}, "configurable": {"thread_id": "conf"}}
    chat_model(server).invoke([HumanMessage("hi")], config)
    (run,) = by_source(list(captured.runs), "langchain")
    assert run.conversation_id == "meta"


async def test_uninstrument_leaves_configurable_alone(
    server: FakeLLMServer, captured: CapturedRuns
) -> None:
    """After uninstrument(), a bare call's configurable id is LangChain's business again."""
    convtrack_langchain.instrument()
    convtrack_langchain.uninstrument()
    handler = convtrack_langchain.ConversationCallbackHandler()
    config: Any = {"configurable": {"thread_id": "t"}, "callbacks": [handler]}
    chat_model(server).invoke([HumanMessage("hi")], config)
    (run,) = by_source(list(captured.runs), "langchain")
    assert run.conversation_id != "t"


@pytest.mark.parametrize("everything", [False, True], ids=["openai-only", "everything"])
@pytest.mark.parametrize("mode", ["invoke", "ainvoke", "stream"])
async def test_chatopenai_turns_of_two_users_group_per_user(
    everything: bool, mode: str, server: FakeLLMServer, captured: CapturedRuns
) -> None:
    """ChatOpenAI calls (non-streamed: through with_raw_response) are recorded with their
    answer and each user's turns are one conversation, with or without LangChain's side."""
    convtrack_openai.instrument()
    if everything:
        convtrack_langchain.instrument()
    model = chat_model(server)
    histories: dict[str, list[BaseMessage]] = {"ann": [], "bob": []}
    for turn in range(3):
        for user, history in histories.items():
            history.append(HumanMessage(f"{user} says {turn}"))
            text = await call(model, mode, history, None)
            assert text == f"echo #{turn + 1}: {user} says {turn}"
            history.append(AIMessage(text))
    sdk = by_source(list(captured.runs), "openai")
    assert len(sdk) == 6
    for run in sdk:
        assert run.outputs is not None
        assert run.outputs["content"].startswith("echo #")
        assert run.usage is not None
        assert run.model == "gpt-test"
        assert run.metadata["response_id"].startswith("chatcmpl-")
    top = by_source(list(captured.runs), "langchain") if everything else sdk
    ann = {run.conversation_id for run in top[0::2]}
    bob = {run.conversation_id for run in top[1::2]}
    assert len(ann) == len(bob) == 1
    assert ann != bob
