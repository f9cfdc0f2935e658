"""ConversationCapability: a pydantic-ai agent run and its tool calls as convtrack runs.

pydantic-ai names every run's conversation (`conversation_id=`, else the one its
`message_history` carries, else a new UUID7): the run is recorded in it (`explicit`; an
agent a tool delegates to stays in its caller's conversation, and an id pydantic-ai made up
yields to the app's current run's or convtrack conversation). The
run's convtrack run is current while it runs (pydantic-ai makes context variables set in
`wrap_run` ambient in its model requests and tool tasks), so the model calls recorded by
convtrack-openai (or convtrack-anthropic) nest under it, and each tool call is a `tool` run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic_ai import RunContext
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.messages import ToolCallPart
from pydantic_ai.tools import ToolDefinition

from convtrack.instrumentation import (
    NULL_RUN,
    RunHandle,
    current_run,
    decide,
    is_capturing,
    is_recording,
    report,
    start_run,
    to_jsonable,
    use_run,
)

SOURCE = "pydantic-ai"


@dataclass
class ConversationCapability(AbstractCapability[Any]):
    """Records an agent's runs and tool calls in the conversation pydantic-ai names.

    `convtrack_pydantic_ai.instrument()` adds one to every run; to add it yourself, pass it
    in `Agent(..., capabilities=[ConversationCapability()])`. It never changes what the
    agent does or returns, and never raises for convtrack's own trouble.

    Args:
        named: whether the app named the run's conversation (`conversation_id=`, or one its
            `message_history` carries); a run whose id pydantic-ai made up joins the app's
            current run's or `convtrack.conversation(...)`'s conversation when there is one.
            `instrument()` tells; a capability you pass yourself assumes named.
    """

    named: bool = True

    async def wrap_run(self, ctx: RunContext[Any], *, handler: Any) -> Any:
        """The agent run, as a `chain` run in `ctx.conversation_id`, current while it runs."""
        run = _start_agent_run(ctx, self.named)
        if not run:
            return await handler()
        with use_run(run):
            try:
                result = await handler()
            except BaseException as exc:
                run.end(error=exc)
                raise
        _end(run, lambda: {"output": to_jsonable(result.output)})
        return result

    async def wrap_tool_execute(
        self,
        ctx: RunContext[Any],
        *,
        call: ToolCallPart,
        tool_def: ToolDefinition,
        args: dict[str, Any],
        handler: Any,
    ) -> Any:
        """A tool call, as a `tool` run under the agent run (current while the tool runs)."""
        run = _start_tool_run(call, tool_def, args)
        if not run:
            return await handler(args)
        with use_run(run):
            try:
                output = await handler(args)
            except BaseException as exc:
                run.end(error=exc)
                raise
        _end(run, lambda: {"output": to_jsonable(output)})
        return output


def _start_agent_run(ctx: RunContext[Any], named: bool) -> RunHandle:
    if not is_recording():
        return NULL_RUN
    try:
        agent = ctx.agent
        name = getattr(agent, "name", None) or "agent run"
        metadata = {"run_id": ctx.run_id} if ctx.run_id else None
        inputs = {"prompt": to_jsonable(ctx.prompt)} if is_capturing() else None
        return start_run(
            "chain",
            str(name),
            source=SOURCE,
            conversation_id=_conversation_id(ctx, named),
            inputs=inputs,
            metadata=metadata,
        )
    except Exception as exc:
        report("pydantic-ai: starting an agent run", exc)
        return NULL_RUN


def _conversation_id(ctx: RunContext[Any], named: bool) -> str | None:
    """pydantic-ai's id for the run, unless the run should take its parent's or context's.

    An agent a tool of another agent's run delegates to stays in that conversation; an id
    pydantic-ai made up yields to the app's current run's or convtrack conversation.
    """
    parent = current_run()
    if parent is not None and parent.source == SOURCE:
        return None
    if not named and decide(parent=parent).conversation_id:
        return None
    return ctx.conversation_id or None


def _start_tool_run(call: ToolCallPart, tool_def: ToolDefinition, args: Any) -> RunHandle:
    if not is_recording():
        return NULL_RUN
    try:
        return start_run(
            "tool",
            tool_def.name,
            source=SOURCE,
            inputs={"args": to_jsonable(args)} if is_capturing() else None,
            metadata={"tool_call_id": call.tool_call_id},
        )
    except Exception as exc:
        report("pydantic-ai: starting a tool run", exc)
        return NULL_RUN


def _end(run: RunHandle, outputs: Any) -> None:
    """End `run` with `outputs()` (while content is captured); never raises."""
    try:
        run.end(outputs=outputs() if is_capturing() else None)
    except Exception as exc:
        report("pydantic-ai: ending a run", exc)
