"""The seam integrations are built on: start runs, nest them, decide their conversation.

Public and versioned (`API_VERSION`): everything a first-party integration uses, a third
party can use. A small complete plugin written against these names is in
`docs/writing-an-integration.md`.

Example:
    >>> from convtrack.instrumentation import start_run, use_run
    >>> run = start_run("tool", "search", source="myplugin", inputs={"q": query})
    >>> with use_run(run):            # runs started inside nest under it
    ...     hits = search(query)
    >>> run.end(outputs=hits)

`convtrack.instrumentation.llm` and `convtrack.instrumentation.streams` hold what LLM client
integrations share: one observed call, and proxies that end a streamed call's run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import Token
from typing import Any

from .._config import is_capturing, is_recording
from .._context import Conversation, ReadOnlyMetadata, get_raw, inherit, reset_raw, set_raw
from .._context import root_conversation as conversation_of
from .._guard import missing_dependency, report
from .._handle import RunHandle, current_run
from .._json import dumps, to_jsonable
from .._patch import Patches, Target
from .._resolve import Decision, Grouping, adecide, aremember, decide, inherited, remember
from .._runs import Run, RunKind, format_error, nested_llm_run_ids, ns_of, times_ns
from .._start import NULL_RUN, NullRun
from .._start import start_run as _start_run
from .._text import has_unsafe, printable
from ._instrumentor import Instrumentor

API_VERSION = 1  # raised when a name here changes incompatibly

_CURRENT: Any = object()


def start_run(
    kind: RunKind | str,
    name: str,
    *,
    source: str,
    model: str | None = None,
    inputs: Any = None,
    metadata: Mapping[str, Any] | None = None,
    conversation_id: str | None = None,
    user_id: str | None = None,
    agent_id: str | None = None,
    messages: Sequence[Any] | None = None,
    system: Any = None,
    parent: RunHandle | None = _CURRENT,
    run_id: str | None = None,
    decision: Decision | None = None,
) -> RunHandle:
    """Start recording a run; its conversation is decided now, by the core's one rule.

    Never raises for convtrack's own trouble: when convtrack is not recording, or starting
    fails, the handle is `NULL_RUN` (false; every method does nothing).

    Args:
        kind: `"llm"`, `"chain"`, `"tool"`, `"retriever"`, `"http"`, `"task"` or
            `"function"`.
        name: a short name (the function, route or model call).
        source: your integration's name (recorded on the run).
        model: the model, for LLM runs.
        inputs: what went in (kept only while content is captured); for a chat run
            started with `messages`, `{"messages": [...]}` by default.
        metadata: extra key/values for the run.
        conversation_id: an id the call itself carries (`explicit`); else the parent run's,
            else the current conversation's.
        user_id: a user the call carries; else the parent's or the context's.
        agent_id: an agent the call carries; else the parent's or the context's.
        messages: a chat call's request messages: with no id from the call, the parent or
            the context, the run is grouped automatically by this history, and `end(answer=)`
            remembers request + answer for the next turn.
        system: a separate system prompt (Anthropic), hashed as the first message.
        parent: the parent run; default: the current run (`use_run`, `current_run()`).
        run_id: keep an id your framework gave the run; default: a new uuid7.
        decision: a conversation decided beforehand (`decide()`), used as it is.
    """
    if not is_recording():
        return NULL_RUN
    try:
        if parent is _CURRENT:
            parent = current_run()
        if decision is None:
            decision = _decision(parent, conversation_id, user_id, agent_id, messages, system)
        return _started(
            kind, name, source, model, inputs, metadata, messages, system, parent, run_id, decision
        )
    except Exception as exc:
        report(f"{source}: starting a run", exc)
        return NULL_RUN


def _decision(
    parent: RunHandle | None,
    conversation_id: str | None,
    user_id: str | None,
    agent_id: str | None,
    messages: Sequence[Any] | None,
    system: Any,
) -> Decision:
    if conversation_id is None and user_id is None and agent_id is None and messages is None:
        return inherited(parent)  # what decide() answers here, memoised (bench_asgi.py, recorded)
    return decide(
        parent=parent,
        conversation_id=conversation_id,
        user_id=user_id,
        agent_id=agent_id,
        messages=messages,
        system=system,
    )


async def astart_run(
    kind: RunKind | str,
    name: str,
    *,
    source: str,
    model: str | None = None,
    inputs: Any = None,
    metadata: Mapping[str, Any] | None = None,
    conversation_id: str | None = None,
    user_id: str | None = None,
    agent_id: str | None = None,
    messages: Sequence[Any] | None = None,
    system: Any = None,
    parent: RunHandle | None = _CURRENT,
    run_id: str | None = None,
) -> RunHandle:
    """`start_run()` for async code: an async grouping store is awaited, not blocked on."""
    if not is_recording():
        return NULL_RUN
    try:
        if parent is _CURRENT:
            parent = current_run()
        decision = await adecide(
            parent=parent,
            conversation_id=conversation_id,
            user_id=user_id,
            agent_id=agent_id,
            messages=messages,
            system=system,
        )
        return _started(
            kind, name, source, model, inputs, metadata, messages, system, parent, run_id, decision
        )
    except Exception as exc:
        report(f"{source}: starting a run", exc)
        return NULL_RUN


def _started(
    kind: RunKind | str,
    name: str,
    source: str,
    model: str | None,
    inputs: Any,
    metadata: Mapping[str, Any] | None,
    messages: Sequence[Any] | None,
    system: Any,
    parent: RunHandle | None,
    run_id: str | None,
    decision: Decision,
) -> RunHandle:
    if messages is not None:
        messages = list(messages)  # one copy: the run's inputs and the history it remembers
        if inputs is None:
            inputs = {"messages": messages}
    run = _start_run(
        kind,
        name,
        source=source,
        decision=decision,
        parent=parent,
        inputs=inputs,
        model=model,
        metadata=metadata,
        run_id=run_id,
        messages=messages,
        system=system,
    )
    return NULL_RUN if run is None else run


@contextmanager
def use_run(run: RunHandle) -> Iterator[RunHandle]:
    """Make `run` the current run for the block: runs started inside nest under it.

    It does not end the run (call `run.end()`); exceptions pass through unchanged.
    """
    token = run.activate()
    try:
        yield run
    finally:
        run.deactivate(token)


def current_conversation() -> Conversation | None:
    """The conversation in force, as set (its id is "" when only a user was set)."""
    return get_raw()


def attach(conversation: Conversation | None) -> Token[Conversation | None]:
    """Make `conversation` current until `detach(token)` (a server's request, a task).

    Build it with `conversation_of(id)` (a root: nothing inherited) or `inherit(outer, id,
    user_id=...)` (the rule `conversation()` follows).
    """
    return set_raw(conversation)


def detach(token: Token[Conversation | None]) -> None:
    """Undo `attach()`: what was current before it is current again."""
    reset_raw(token)


__all__ = [
    "API_VERSION",
    "NULL_RUN",
    "Conversation",
    "Decision",
    "Grouping",
    "Instrumentor",
    "NullRun",
    "Patches",
    "ReadOnlyMetadata",
    "Run",
    "RunHandle",
    "RunKind",
    "Target",
    "adecide",
    "aremember",
    "astart_run",
    "attach",
    "conversation_of",
    "current_conversation",
    "current_run",
    "decide",
    "detach",
    "dumps",
    "format_error",
    "has_unsafe",
    "inherit",
    "is_capturing",
    "is_recording",
    "missing_dependency",
    "nested_llm_run_ids",
    "ns_of",
    "printable",
    "remember",
    "report",
    "start_run",
    "times_ns",
    "to_jsonable",
    "use_run",
]
