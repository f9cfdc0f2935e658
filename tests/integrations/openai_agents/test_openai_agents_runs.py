"""convtrack-openai-agents: the SDK's spans as runs, the app's ids, nothing left behind."""

from __future__ import annotations

import asyncio
import importlib

import convtrack_openai_agents
import pytest
from agents import (
    Agent,
    GuardrailFunctionOutput,
    InputGuardrailTripwireTriggered,
    OpenAIResponsesModel,
    RunConfig,
    Runner,
    SQLiteSession,
    input_guardrail,
    trace,
)
from agents.run import AgentRunner
from convtrack_openai_agents._runner import explicit_id

import convtrack
from convtrack import Run
from convtrack.instrumentation import current_run, start_run, use_run
from convtrack.testing import CapturedRuns

SOURCE = "openai-agents"


def ours(captured: CapturedRuns) -> list[Run]:
    """The runs this integration recorded."""
    return [run for run in captured.runs if run.source == SOURCE]


async def test_a_session_names_the_conversation(
    model: OpenAIResponsesModel, captured: CapturedRuns
) -> None:
    """A run with a `session` is in the session's conversation, model calls included."""
    agent = Agent("chat", instructions="Be brief.", model=model)
    session = SQLiteSession("user-7")
    for text in ("hi", "again"):
        await Runner.run(agent, text, session=session)
    assert {run.conversation_id for run in captured.runs} == {"user-7"}
    assert {run.grouping for run in captured.runs} == {"explicit"}
    assert len([run for run in captured.runs if run.kind == "llm"]) == 2


async def test_conversation_id_wins_over_session_and_group(
    model: OpenAIResponsesModel, captured: CapturedRuns
) -> None:
    """`conversation_id` before the session's id before `group_id` (the SDK's own order)."""
    kwargs = {"session": SQLiteSession("s"), "run_config": RunConfig(group_id="g")}
    assert explicit_id({**kwargs, "conversation_id": "c"}) == "c"
    assert explicit_id(kwargs) == "s"
    assert explicit_id({"run_config": RunConfig(group_id="g")}) == "g"
    assert explicit_id({"conversation_id": " "}) is None


def test_run_sync_is_recorded(model: OpenAIResponsesModel, captured: CapturedRuns) -> None:
    """`Runner.run_sync` records the same tree, and leaves no run current afterwards."""
    agent = Agent("chat", instructions="Be brief.", model=model)
    result = Runner.run_sync(agent, "hi", run_config=RunConfig(group_id="sync-1"))
    assert result.final_output == "echo #1: hi"
    names = sorted((run.kind, run.name) for run in captured.runs)
    assert names == [("chain", "Agent workflow"), ("chain", "chat"), ("llm", "openai.responses")]
    assert {run.conversation_id for run in captured.runs} == {"sync-1"}
    assert current_run() is None


async def test_a_handoff_is_a_run_and_both_agents_nest(
    model: OpenAIResponsesModel, captured: CapturedRuns
) -> None:
    """A handoff is a `handoff` run, and the agent handed to runs in the same turn."""
    expert = Agent("expert", instructions="Be brief.", model=model)
    triage = Agent("triage", instructions="Be brief.", model=model, handoffs=[expert])
    result = await Runner.run(triage, "help", run_config=RunConfig(group_id="h-1"))
    assert result.last_agent is expert
    runs = ours(captured)
    (handoff,) = [run for run in runs if run.name == "handoff"]
    assert (handoff.metadata["from_agent"], handoff.metadata["to_agent"]) == ("triage", "expert")
    (root,) = [run for run in runs if run.parent_run_id is None]
    agents = {run.name for run in runs if run.metadata.get("span_type") == "agent"}
    assert agents == {"triage", "expert"}
    assert {run.root_run_id for run in captured.runs} == {root.run_id}
    assert {run.conversation_id for run in captured.runs} == {"h-1"}


async def test_a_tripped_guardrail_is_recorded_and_its_error_passes_through(
    model: OpenAIResponsesModel, captured: CapturedRuns
) -> None:
    """A guardrail is a run (`triggered` in its metadata); the SDK's exception is unchanged."""

    @input_guardrail
    async def no_secrets(ctx: object, agent: Agent, text: object) -> GuardrailFunctionOutput:
        return GuardrailFunctionOutput(output_info=None, tripwire_triggered="secret" in str(text))

    agent = Agent("chat", model=model, input_guardrails=[no_secrets])
    with pytest.raises(InputGuardrailTripwireTriggered):
        await Runner.run(agent, "the secret", run_config=RunConfig(group_id="g-1"))
    (guardrail,) = [run for run in ours(captured) if run.name == "no_secrets"]
    assert guardrail.metadata["triggered"] is True
    assert guardrail.conversation_id == "g-1"


async def test_a_trace_the_app_opens_takes_its_group_id(
    model: OpenAIResponsesModel, captured: CapturedRuns
) -> None:
    """Runs inside `trace(..., group_id=...)` are one tree in that conversation."""
    agent = Agent("chat", instructions="Be brief.", model=model)
    with trace("support", group_id="ticket-3"):
        await Runner.run(agent, "one")
        await Runner.run(agent, "two")
    (root,) = [run for run in ours(captured) if run.parent_run_id is None]
    assert root.name == "support"
    assert len([run for run in captured.runs if run.kind == "llm"]) == 2
    assert {run.conversation_id for run in captured.runs} == {"ticket-3"}


async def test_concurrent_runs_stay_apart(
    model: OpenAIResponsesModel, captured: CapturedRuns
) -> None:
    """Two users' runs at once (tasks): each tree in its own conversation, nothing crossed."""
    agent = Agent("chat", instructions="Be brief.", model=model)
    await asyncio.gather(
        *(Runner.run(agent, f"hi {n}", run_config=RunConfig(group_id=f"c-{n}")) for n in range(4))
    )
    for root in [run for run in ours(captured) if run.parent_run_id is None]:
        tree = [run for run in captured.runs if run.root_run_id == root.run_id]
        assert len(tree) == 3
        assert {run.conversation_id for run in tree} == {root.conversation_id}


async def test_uninstrument_records_nothing_and_restores_the_runner(
    model: OpenAIResponsesModel, captured: CapturedRuns
) -> None:
    """After uninstrument(), the Runner is the SDK's own again and no agent run is recorded."""
    convtrack_openai_agents.uninstrument()
    convtrack_openai_agents.uninstrument()  # twice is fine
    assert not convtrack_openai_agents.is_instrumented()
    assert not hasattr(AgentRunner.run, "__wrapped__")
    await Runner.run(Agent("chat", model=model), "hi")
    assert not ours(captured)
    convtrack_openai_agents.instrument()
    assert hasattr(AgentRunner.run, "__wrapped__")


async def test_a_streamed_run_is_one_tree_and_leaves_nothing_current(
    model: OpenAIResponsesModel, captured: CapturedRuns
) -> None:
    """`run_streamed`: the trace, agent and model call are one tree; the caller's context
    has no convtrack run current afterwards."""
    agent = Agent("chat", instructions="Be brief.", model=model)
    streamed = Runner.run_streamed(agent, "hi", run_config=RunConfig(group_id="s-1"))
    async for _ in streamed.stream_events():
        pass
    assert streamed.final_output == "echo #1: hi"
    assert current_run() is None
    (root,) = [run for run in captured.runs if run.parent_run_id is None]
    (step,) = [run for run in captured.runs if run.parent_run_id == root.run_id]
    (call,) = [run for run in captured.runs if run.kind == "llm"]
    assert (step.name, call.parent_run_id) == ("chat", step.run_id)
    assert {run.conversation_id for run in captured.runs} == {"s-1"}


@pytest.mark.parametrize("how", ["run", "conversation"])
async def test_a_run_inside_the_apps_own_run_or_conversation_joins_it(
    how: str, model: OpenAIResponsesModel, captured: CapturedRuns
) -> None:
    """With no id of its own, a Runner run takes the app's current run's conversation (and
    nests under it), or the current `convtrack.conversation(...)`."""
    agent = Agent("chat", instructions="Be brief.", model=model)
    if how == "run":
        outer = start_run("chain", "request", source="app", conversation_id="req-1")
        with use_run(outer):
            await Runner.run(agent, "hi")
        outer.end()
    else:
        with convtrack.conversation("req-1"):
            await Runner.run(agent, "hi")
    assert {run.conversation_id for run in captured.runs} == {"req-1"}
    (root,) = [run for run in ours(captured) if run.name == "Agent workflow"]
    assert (root.parent_run_id is not None) == (how == "run")


def test_convtrack_instrument_finds_it_by_name(captured: CapturedRuns) -> None:
    """`convtrack.instrument("openai_agents")` turns it on (its entry points are installed)."""
    convtrack_openai_agents.uninstrument()
    assert convtrack.instrument("openai_agents") == ["openai_agents"]
    assert convtrack_openai_agents.is_instrumented()
    assert convtrack_openai_agents.__version__ == "0.1.0"


@pytest.mark.parametrize("where", ["_processor", "_runner"])
async def test_convtracks_own_failure_never_reaches_the_app(
    where: str,
    model: OpenAIResponsesModel,
    captured: CapturedRuns,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """If recording fails (the processor's runs, the Runner's decision), the app's run goes
    on unchanged and the trouble is logged."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("convtrack is broken")

    module = importlib.import_module(f"convtrack_openai_agents.{where}")
    name = "start_run" if where == "_processor" else "adecide"
    monkeypatch.setattr(module, name, broken)
    agent = Agent("chat", instructions="Be brief.", model=model)
    result = await Runner.run(agent, "hi", run_config=RunConfig(group_id="g"))
    assert result.final_output == "echo #1: hi"
    assert "convtrack is broken" in caplog.text
    assert current_run() is None
