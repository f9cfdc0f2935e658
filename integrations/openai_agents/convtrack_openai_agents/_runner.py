"""The Runner's side: which conversation a run of `Runner.run` / `run_streamed` belongs to.

The tracing processor only sees a trace's `group_id`; a run's `conversation_id` and
`session` are arguments of the Runner. The wrappers here read them (and, when the app
names no conversation, the history it resends) and leave the decision in a context
variable that the processor reads when the run's trace starts: the SDK starts it in the
same task (`run_streamed`'s task is created with a copy of the caller's context).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NamedTuple

from convtrack.grouping import chat_messages
from convtrack.instrumentation import (
    Decision,
    adecide,
    current_run,
    decide,
    is_capturing,
    is_recording,
    report,
    to_jsonable,
)


class Pending(NamedTuple):
    """A Runner run about to start its trace: its conversation and (captured) input."""

    decision: Decision
    inputs: Any


PENDING: ContextVar[Pending | None] = ContextVar("convtrack_openai_agents.pending", default=None)


def explicit_id(kwargs: Mapping[str, Any]) -> str | None:
    """The id the app named: `conversation_id`, else the session's id, else `group_id`.

    The SDK's own order for grouping a run (server conversation, session, trace group).
    """
    for value in (
        kwargs.get("conversation_id"),
        getattr(kwargs.get("session"), "session_id", None),
        getattr(kwargs.get("run_config"), "group_id", None),
    ):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def history(starting_agent: Any, run_input: Any) -> tuple[list[Any], Any] | None:
    """(messages, system) the run's first model call sends, for automatic grouping.

    None when they cannot be known before the run: a resumed `RunState`, dynamic
    instructions, or a conversation the server keeps (`previous_response_id`).
    """
    if isinstance(run_input, str):
        items: list[Any] = [{"role": "user", "content": run_input}]
    elif isinstance(run_input, list):
        items = list(run_input)
    else:
        return None
    instructions = getattr(starting_agent, "instructions", None)
    if instructions is not None and not isinstance(instructions, str):
        return None
    return chat_messages(items), instructions or None


def _inputs(run_input: Any) -> Any:
    return {"input": to_jsonable(run_input)} if is_capturing() else None


def _arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    starting_agent = args[0] if args else kwargs.get("starting_agent")
    run_input = args[1] if len(args) > 1 else kwargs.get("input")
    return starting_agent, run_input


def _no_history(kwargs: Mapping[str, Any]) -> bool:
    return bool(kwargs.get("previous_response_id") or kwargs.get("auto_previous_response_id"))


def pending_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Pending | None:
    """The conversation of a Runner run, decided now (sync code) by the core's one rule: the
    id the app named, else the app's current run's or conversation, else the history."""
    starting_agent, run_input = _arguments(args, kwargs)
    named = explicit_id(kwargs)
    if named is not None:
        return Pending(decide(conversation_id=named), _inputs(run_input))
    found = None if _no_history(kwargs) else history(starting_agent, run_input)
    if found is None:
        return None
    return Pending(
        decide(parent=current_run(), messages=found[0], system=found[1]), _inputs(run_input)
    )


async def apending_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Pending | None:
    """`pending_of()` for async code: an async grouping store is awaited."""
    starting_agent, run_input = _arguments(args, kwargs)
    named = explicit_id(kwargs)
    if named is not None:
        return Pending(await adecide(conversation_id=named), _inputs(run_input))
    found = None if _no_history(kwargs) else history(starting_agent, run_input)
    if found is None:
        return None
    decision = await adecide(parent=current_run(), messages=found[0], system=found[1])
    return Pending(decision, _inputs(run_input))


@contextmanager
def pending(value: Pending | None) -> Iterator[None]:
    """`value` is the pending run's conversation in the block."""
    token = PENDING.set(value)
    try:
        yield
    finally:
        PENDING.reset(token)


def run_streamed(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """`AgentRunner.run_streamed`: its task starts the trace with the caller's context."""
    if not is_recording():
        return wrapped(*args, **kwargs)
    value = None
    try:
        value = pending_of(args, kwargs)
    except Exception as exc:
        report("openai-agents: deciding a streamed run's conversation", exc)
    with pending(value):
        return wrapped(*args, **kwargs)  # the user's call, outside our guard


def run(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """`AgentRunner.run` (which `run_sync` calls too): decided before the trace starts."""
    if not is_recording():
        return wrapped(*args, **kwargs)
    return _run(wrapped, args, kwargs)


async def _run(wrapped: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    value = None
    try:
        value = await apending_of(args, kwargs)
    except Exception as exc:
        report("openai-agents: deciding a run's conversation", exc)
    with pending(value):
        return await wrapped(*args, **kwargs)
