"""convtrack-pydantic-ai: agent runs and tool calls in pydantic-ai's conversation."""

from __future__ import annotations

import convtrack_pydantic_ai
import pytest
from convtrack_pydantic_ai import ConversationCapability
from convtrack_pydantic_ai import _capability as capability_module
from pydantic_ai import Agent
from pydantic_ai.agent import Agent as AgentClass
from pydantic_ai.models.openai import OpenAIChatModel

import convtrack
from convtrack import Run
from convtrack.instrumentation import current_run, start_run, use_run
from convtrack.testing import CapturedRuns

SOURCE = "pydantic-ai"
ITER = AgentClass.__dict__["iter"]  # pydantic-ai's own (imported before any test instruments)


def ours(captured: CapturedRuns) -> list[Run]:
    """The runs this integration recorded."""
    return [run for run in captured.runs if run.source == SOURCE]


async def test_the_conversation_carried_by_the_history_is_kept(
    model: OpenAIChatModel, captured: CapturedRuns
) -> None:
    """A run with no id continues the conversation its message_history carries."""
    agent = Agent(model, name="chat")
    first = await agent.run("hi")
    second = await agent.run("more", message_history=first.all_messages())
    assert second.output == "echo #2: more"
    assert {run.conversation_id for run in captured.runs} == {first.conversation_id}
    chains = [run for run in ours(captured) if run.kind == "chain"]
    assert [run.name for run in chains] == ["chat", "chat"]
    assert [run.outputs for run in chains] == [{"output": "echo #1: hi"}, {"output": second.output}]
    assert current_run() is None


def test_run_sync_is_recorded(model: OpenAIChatModel, captured: CapturedRuns) -> None:
    """`run_sync` records the agent run with its model call nested under it."""
    result = Agent(model).run_sync("hi", conversation_id="sync-1")
    assert result.output == "echo #1: hi"
    (chain,) = ours(captured)
    (call,) = [run for run in captured.runs if run.kind == "llm"]
    assert (chain.name, chain.conversation_id, chain.grouping) == (
        "agent run",
        "sync-1",
        "explicit",
    )
    assert call.parent_run_id == chain.run_id


async def test_a_failing_tool_is_recorded_and_the_error_passes_through(
    model: OpenAIChatModel, captured: CapturedRuns
) -> None:
    """A tool's exception reaches the app unchanged; its run and the agent run end in error."""

    def lookup(query: str) -> str:
        """Look it up."""
        raise LookupError(query)

    with pytest.raises(LookupError, match="hi"):
        await Agent(model, tools=[lookup]).run("hi", conversation_id="c-1")
    (tool,) = [run for run in ours(captured) if run.kind == "tool"]
    assert (tool.name, tool.status, tool.inputs) == ("lookup", "error", {"args": {"query": "hi"}})
    assert "LookupError" in (tool.error or "")
    (chain,) = [run for run in ours(captured) if run.kind == "chain"]
    assert chain.status == "error"


async def test_an_agent_a_tool_delegates_to_stays_in_the_callers_conversation(
    model: OpenAIChatModel, captured: CapturedRuns
) -> None:
    """Delegation: the inner agent's run nests under the tool, in the outer conversation."""
    inner = Agent(model, name="inner")

    async def ask(query: str) -> str:
        """Ask the other agent."""
        return (await inner.run(query)).output

    result = await Agent(model, name="outer", tools=[ask]).run("hi", conversation_id="c-2")
    assert result.output == "tool said: echo #1: hi"
    runs = ours(captured)
    (tool,) = [run for run in runs if run.kind == "tool"]
    (nested,) = [run for run in runs if run.name == "inner"]
    assert nested.parent_run_id == tool.run_id
    assert {run.conversation_id for run in captured.runs} == {"c-2"}


async def test_a_capability_given_by_hand_is_not_doubled(
    model: OpenAIChatModel, captured: CapturedRuns
) -> None:
    """An agent run that already has the capability gets no second one from instrument()."""
    await Agent(model).run("hi", capabilities=[ConversationCapability()])
    assert len(ours(captured)) == 1


async def test_uninstrument_restores_agent_iter(
    model: OpenAIChatModel, captured: CapturedRuns
) -> None:
    """After uninstrument() (twice is fine), `Agent.iter` is pydantic-ai's own again."""
    assert AgentClass.__dict__["iter"] is not ITER
    convtrack_pydantic_ai.uninstrument()
    convtrack_pydantic_ai.uninstrument()
    assert not convtrack_pydantic_ai.is_instrumented()
    assert AgentClass.__dict__["iter"] is ITER
    await Agent(model).run("hi")
    assert not ours(captured)


@pytest.mark.parametrize("how", ["run", "conversation"])
async def test_a_made_up_id_yields_to_the_apps_conversation(
    how: str, model: OpenAIChatModel, captured: CapturedRuns
) -> None:
    """A run the app gave no id joins the app's current run's (nesting under it) or the
    current `convtrack.conversation(...)`; an id the app gave still wins."""
    agent = Agent(model, name="chat")
    outer = start_run("chain", "request", source="app", conversation_id="req-1")
    scope = use_run(outer) if how == "run" else convtrack.conversation("req-1")
    with scope:
        await agent.run("hi")
        await agent.run("hi", conversation_id="named-1")
    outer.end()
    first, second = [run for run in ours(captured) if run.kind == "chain"]
    assert (first.conversation_id, second.conversation_id) == ("req-1", "named-1")
    assert (first.parent_run_id == outer.run_id) == (how == "run")


def test_convtrack_instrument_finds_it_by_name(captured: CapturedRuns) -> None:
    """`convtrack.instrument("pydantic_ai")` turns it on (its entry points are installed)."""
    convtrack_pydantic_ai.uninstrument()
    assert convtrack.instrument("pydantic_ai") == ["pydantic_ai"]
    assert convtrack_pydantic_ai.is_instrumented()
    assert convtrack_pydantic_ai.__version__ == "0.1.0"


async def test_convtracks_own_failure_never_reaches_the_app(
    model: OpenAIChatModel,
    captured: CapturedRuns,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """If starting a run fails, the agent and its tools run unchanged and it is logged."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("convtrack is broken")

    monkeypatch.setattr(capability_module, "start_run", broken)

    def lookup(query: str) -> str:
        """Look it up."""
        return f"found {query}"

    result = await Agent(model, tools=[lookup]).run("hi", conversation_id="c")
    assert result.output == "tool said: found hi"
    assert "convtrack is broken" in caplog.text
    assert not ours(captured)
