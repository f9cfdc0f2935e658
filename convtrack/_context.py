"""The one ContextVar: which conversation (and user, agent) the current code serves."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any, NoReturn

from uuid_utils import uuid7


class ReadOnlyMetadata(dict[str, Any]):
    """Metadata shared by conversations and runs: a dict that refuses changes.

    Unlike `types.MappingProxyType` it pickles, copies and deep-copies (so `Run`s and
    `Conversation`s go through `pickle`, `copy` and `dataclasses.asdict`), and JSON
    encoders take it as the dict it is.
    """

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("convtrack metadata is read-only; merge it into a new dict instead")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse
    __ior__ = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (dict(self),))

    def __copy__(self) -> ReadOnlyMetadata:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ReadOnlyMetadata:
        return type(self)(copy.deepcopy(dict(self), memo))


EMPTY_METADATA: Mapping[str, Any] = ReadOnlyMetadata()


@dataclass(frozen=True, slots=True)
class Conversation:
    """The conversation the current code belongs to.

    Attributes:
        conversation_id: the conversation (thread, session) id.
        user_id: the end user, when known.
        agent_id: the agent (application part) serving the conversation, when known.
        metadata: read-only extra key/values set with the conversation.
    """

    conversation_id: str
    user_id: str | None = None
    agent_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=lambda: EMPTY_METADATA, hash=False)


# The value is a Conversation; one with conversation_id "" carries only a user/agent
# (set_user_id outside any conversation) and reads as "no conversation".
_CURRENT: ContextVar[Conversation | None] = ContextVar("convtrack.conversation", default=None)
get_raw = _CURRENT.get
set_raw = _CURRENT.set
reset_raw = _CURRENT.reset

_new = object.__new__
# The slot descriptors' setters: building a frozen instance without its __init__'s
# object.__setattr__ calls (entering a conversation is a hot path).
_set_id = Conversation.__dict__["conversation_id"].__set__
_set_user = Conversation.__dict__["user_id"].__set__
_set_agent = Conversation.__dict__["agent_id"].__set__
_set_metadata = Conversation.__dict__["metadata"].__set__


def make(
    conversation_id: str,
    user_id: str | None,
    agent_id: str | None,
    metadata: Mapping[str, Any],
) -> Conversation:
    """Build a Conversation without the frozen-dataclass __init__ cost (a hot path)."""
    conv: Conversation = _new(Conversation)
    _set_id(conv, conversation_id)
    _set_user(conv, user_id)
    _set_agent(conv, agent_id)
    _set_metadata(conv, metadata)
    return conv


# str id -> Conversation(id); (id, user, agent) -> Conversation(id, user, agent)
_ROOTS: dict[str | tuple[str, str | None, str | None], Conversation] = {}
_ROOTS_MAX = 1024


def root_conversation(
    conversation_id: str, user_id: str | None = None, agent_id: str | None = None
) -> Conversation:
    """`Conversation(conversation_id, user_id, agent_id)` with nothing inherited, memoised.

    Entering a conversation by id is a hot path (every request of a chat app does it) and the
    object is immutable; the memo is bounded and simply starts over when full.
    """
    plain = user_id is None and agent_id is None
    key = conversation_id if plain else (conversation_id, user_id, agent_id)
    conv = _ROOTS.get(key)
    if conv is None:
        if len(_ROOTS) >= _ROOTS_MAX:
            _ROOTS.clear()
        conv = _ROOTS[key] = make(conversation_id, user_id, agent_id, EMPTY_METADATA)
    return conv


# The conversation the last LLM call made in this context joined (set as its run starts).
_LAST_LLM: ContextVar[str | None] = ContextVar("convtrack.last_llm_conversation", default=None)
note_llm_conversation = _LAST_LLM.set


def last_conversation_id() -> str | None:
    """The conversation the last LLM call made in this context joined, or None.

    Automatically grouped calls included: after `client.chat.completions.create(...)` an app
    can show the conversation, link to it or attach feedback without asking the store. Set
    when an LLM run starts (so also while its stream is being read), in the caller's context:
    a call made in another thread or task does not change it here.
    """
    return _LAST_LLM.get()


def new_conversation_id() -> str:
    """Return a new conversation id: a uuid7 string (time-ordered)."""
    return str(uuid7())


def check_id(value: object, what: str) -> None:
    """Raise TypeError/ValueError unless `value` is a non-empty string."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}: {value!r}")
    if not value or value.isspace():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")


def check_optional_id(value: object, what: str) -> None:
    """Like check_id, but None is allowed."""
    if value is not None:
        check_id(value, what)


def merge_metadata(outer: Mapping[str, Any], inner: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """Return outer metadata updated with inner (inner keys win), read-only."""
    if not inner:
        return outer
    if not isinstance(inner, Mapping):
        raise TypeError(f"metadata must be a mapping, got {type(inner).__name__}")
    if not outer:
        return ReadOnlyMetadata(inner)
    return ReadOnlyMetadata({**outer, **inner})


def inherit(
    outer: Conversation | None,
    conversation_id: str,
    user_id: str | None = None,
    agent_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Conversation:
    """The conversation `conversation_id` entered inside `outer`: the one inheritance rule.

    User and agent are inherited from `outer` unless given; metadata merges with the outer
    metadata (inner keys win).
    """
    if outer is None:
        return make(conversation_id, user_id, agent_id, merge_metadata(EMPTY_METADATA, metadata))
    return make(
        conversation_id,
        outer.user_id if user_id is None else user_id,
        outer.agent_id if agent_id is None else agent_id,
        merge_metadata(outer.metadata, metadata),
    )


def current() -> Conversation | None:
    """Return the current conversation, or None outside any conversation."""
    conv = _CURRENT.get()
    if conv is None or not conv.conversation_id:
        return None
    return conv


def get_conversation_id() -> str | None:
    """Return the current conversation id, or None."""
    conv = _CURRENT.get()
    if conv is None:
        return None
    return conv.conversation_id or None


def get_user_id() -> str | None:
    """Return the current user id, or None."""
    conv = _CURRENT.get()
    return None if conv is None else conv.user_id


def get_agent_id() -> str | None:
    """Return the current agent id, or None."""
    conv = _CURRENT.get()
    return None if conv is None else conv.agent_id


def set_conversation_id(
    conversation_id: str,
    *,
    user_id: str | None = None,
    agent_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Token[Conversation | None]:
    """Make `conversation_id` current until `reset(token)` (or the end of the task/context).

    User, agent and metadata are inherited from the enclosing conversation unless given.

    Returns:
        A token for `reset()`.
    """
    outer = _CURRENT.get()
    if (
        outer is None
        and user_id is None
        and agent_id is None
        and metadata is None
        and type(conversation_id) is str
        and conversation_id
        and not conversation_id.isspace()
    ):  # nothing to inherit: the memoised root, looked up inline (saves 25-40%: bench_context.py)
        return _CURRENT.set(_ROOTS.get(conversation_id) or root_conversation(conversation_id))
    check_id(conversation_id, "conversation_id")
    check_optional_id(user_id, "user_id")
    check_optional_id(agent_id, "agent_id")
    return _CURRENT.set(inherit(outer, conversation_id, user_id, agent_id, metadata))


def set_user_id(user_id: str | None) -> Token[Conversation | None]:
    """Set the current user (inside or outside a conversation) until `reset(token)`.

    Returns:
        A token for `reset()`.
    """
    check_optional_id(user_id, "user_id")
    outer = _CURRENT.get()
    if outer is None:
        conv = make("", user_id, None, EMPTY_METADATA)
    else:
        conv = make(outer.conversation_id, user_id, outer.agent_id, outer.metadata)
    return _CURRENT.set(conv)


def reset(token: Token[Conversation | None]) -> None:
    """Restore exactly what was current before the `set_*` call that returned `token`."""
    if type(token) is not Token or token.var is not _CURRENT:
        raise TypeError("reset() takes a token returned by set_conversation_id() or set_user_id()")
    _CURRENT.reset(token)
