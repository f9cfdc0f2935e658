"""Which conversation a run belongs to: the one decision point every integration uses.

Order: an id carried by the call itself (``explicit``), the run's parent (a child takes its
root's conversation), the current convtrack context (``context``), automatic grouping of chat
messages (``auto-matched``/``auto-new``), otherwise no conversation (``none``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

from . import _config
from ._context import EMPTY_METADATA, get_raw
from ._guard import report

if TYPE_CHECKING:
    from .grouping import ConversationGrouper, Resolution

Grouping = Literal["context", "explicit", "auto-matched", "auto-new", "none"]


class Decision(NamedTuple):
    """The conversation (and user, agent) decided for one run, and how it was decided."""

    conversation_id: str | None
    user_id: str | None
    agent_id: str | None
    grouping: Grouping
    metadata: Mapping[str, Any] = EMPTY_METADATA  # e.g. branch_of, from peek-mode grouping


class Parent(Protocol):
    """What deciding reads of a parent run (a `RunHandle`)."""

    @property
    def conversation_id(self) -> str | None: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def agent_id(self) -> str | None: ...
    @property
    def grouping(self) -> Grouping: ...
    @property
    def decision(self) -> Decision: ...


NONE = Decision(None, None, None, "none")
_tuple_new = tuple.__new__  # Decision(...) without its Python-level __new__ (a hot path)
_last_context: tuple[object, Decision] = (None, NONE)  # (Conversation, its Decision): a memo


def inherited(parent: Parent | None) -> Decision:
    """The decision for a run that carries no id of its own: its parent's, else the context's.

    This is `decide(parent=parent)` without messages: the hot path of `trace()` steps.
    """
    global _last_context
    if parent is not None and parent.conversation_id:
        decision = parent.decision
        if decision.metadata:  # the parent's own extras (branch_of) are not inherited
            return Decision(decision[0], decision[1], decision[2], decision[3])
        return decision
    ctx = get_raw()
    if ctx is None:
        return NONE
    last = _last_context
    if last[0] is ctx:
        return last[1]
    fields: tuple[str | None, str | None, str | None, Grouping, Mapping[str, Any]]
    if ctx.conversation_id:
        fields = (ctx.conversation_id, ctx.user_id, ctx.agent_id, "context", EMPTY_METADATA)
    else:
        fields = (None, ctx.user_id, ctx.agent_id, "none", EMPTY_METADATA)
    decision = _tuple_new(Decision, fields)
    _last_context = (ctx, decision)
    return decision


def _explicit_or_inherited(
    parent: Parent | None,
    conversation_id: str | None,
    user_id: str | None,
    agent_id: str | None,
) -> Decision | None:
    """Steps 1, 2 and 3 of the rule: call id, parent, context; None when none applies."""
    ctx = get_raw()
    if conversation_id:
        return Decision(
            conversation_id,
            user_id if user_id is not None else (ctx.user_id if ctx else None),
            agent_id if agent_id is not None else (ctx.agent_id if ctx else None),
            "explicit",
        )
    if parent is not None and parent.conversation_id:
        return Decision(
            parent.conversation_id,
            parent.user_id if user_id is None else user_id,
            parent.agent_id if agent_id is None else agent_id,
            parent.grouping,
        )
    if ctx is not None and ctx.conversation_id:
        return Decision(
            ctx.conversation_id,
            ctx.user_id if user_id is None else user_id,
            ctx.agent_id if agent_id is None else agent_id,
            "context",
        )
    return None


def _before_grouping(
    parent: Parent | None,
    conversation_id: str | None,
    user_id: str | None,
    agent_id: str | None,
    messages: Sequence[Any] | None,
) -> tuple[Decision, ConversationGrouper | None]:
    """Steps 1-3 of the rule; else the fallback decision and the grouper to ask, if any."""
    decided = _explicit_or_inherited(parent, conversation_id, user_id, agent_id)
    if decided is not None:
        return decided, None
    ctx = get_raw()
    if ctx is not None:
        user_id = ctx.user_id if user_id is None else user_id
        agent_id = ctx.agent_id if agent_id is None else agent_id
    fallback = Decision(None, user_id, agent_id, "none") if user_id or agent_id else NONE
    return fallback, (_grouper() if messages is not None else None)


def _grouper() -> ConversationGrouper | None:
    recorder = _config.current
    return None if recorder is None else recorder.grouper


def decide(
    *,
    parent: Parent | None = None,
    conversation_id: str | None = None,
    user_id: str | None = None,
    agent_id: str | None = None,
    messages: Sequence[Any] | None = None,
    system: Any = None,
) -> Decision:
    """Decide the conversation of a run about to start.

    Args:
        parent: the parent run, if any (a child takes its root's conversation).
        conversation_id: an id the call itself carries (request metadata, run metadata).
        user_id: a user the call carries; else the parent's or the context's.
        agent_id: an agent the call carries; else the parent's or the context's.
        messages: for chat LLM calls, the request messages (enables automatic grouping).
        system: a separate system prompt (Anthropic), hashed as the first message.
    """
    decision, grouper = _before_grouping(parent, conversation_id, user_id, agent_id, messages)
    if grouper is None or messages is None:
        return decision
    try:
        res = grouper.resolve(messages, agent_id=decision.agent_id, system=system)
    except Exception as exc:  # the grouper guards itself; this is the last line
        report("automatic grouping", exc)
        return decision
    return _from_resolution(res, decision)


async def adecide(
    *,
    parent: Parent | None = None,
    conversation_id: str | None = None,
    user_id: str | None = None,
    agent_id: str | None = None,
    messages: Sequence[Any] | None = None,
    system: Any = None,
) -> Decision:
    """`decide()` for async code: an async grouping store is awaited, not blocked on."""
    decision, grouper = _before_grouping(parent, conversation_id, user_id, agent_id, messages)
    if grouper is None or messages is None:
        return decision
    try:
        res = await grouper.aresolve(messages, agent_id=decision.agent_id, system=system)
    except Exception as exc:
        report("automatic grouping", exc)
        return decision
    return _from_resolution(res, decision)


def _from_resolution(res: Resolution, fallback: Decision) -> Decision:
    branch_of = res.branch_of
    return Decision(
        res.conversation_id,
        fallback.user_id,
        fallback.agent_id,
        res.grouping,
        {"branch_of": branch_of} if branch_of else EMPTY_METADATA,
    )


def _grouper_for(decision: Decision, always: bool) -> ConversationGrouper | None:
    """The grouper to remember an answer with: for automatically grouped runs (any, `always`)."""
    if decision.conversation_id is None:
        return None
    if not always and not decision.grouping.startswith("auto"):
        return None
    return _grouper()


def remember(
    decision: Decision, history: Sequence[Any], *, system: Any = None, always: bool = False
) -> None:
    """After a chat call's answer: remember `history` (request + answer) for the next turn.

    Args:
        decision: the call's decision; only automatically grouped calls are remembered,
            unless `always` (a history that must be found whatever decided the call, such as
            a Responses API marker).
        history: the request's messages followed by the answer.
        system: a separate system prompt (Anthropic), hashed as the first message.
        always: remember it whatever decided the call.
    """
    grouper = _grouper_for(decision, always)
    if grouper is None or decision.conversation_id is None:
        return
    try:
        grouper.remember(
            history, decision.conversation_id, agent_id=decision.agent_id, system=system
        )
    except Exception as exc:
        report("automatic grouping (remember)", exc)


async def aremember(
    decision: Decision, history: Sequence[Any], *, system: Any = None, always: bool = False
) -> None:
    """`remember()` for async code (an async store is awaited)."""
    grouper = _grouper_for(decision, always)
    if grouper is None or decision.conversation_id is None:
        return
    try:
        await grouper.aremember(
            history, decision.conversation_id, agent_id=decision.agent_id, system=system
        )
    except Exception as exc:
        report("automatic grouping (remember)", exc)
