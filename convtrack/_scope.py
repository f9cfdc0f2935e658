"""conversation(): a context manager (sync and async) and a decorator (every kind of function)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from contextvars import Token
from types import TracebackType
from typing import Any, TypeVar, cast

from ._context import (
    _ROOTS,
    EMPTY_METADATA,
    Conversation,
    check_optional_id,
    get_raw,
    inherit,
    make,
    new_conversation_id,
    reset_raw,
    root_conversation,
    set_raw,
)
from ._generators import Hooks, wrap_async_generator, wrap_generator

F = TypeVar("F", bound=Callable[..., Any])
IdSource = str | Callable[..., str] | None
_Extras = tuple[str | None, str | None, Mapping[str, Any] | None, bool]


class conversation:
    """Run code inside a conversation: a context manager and a decorator.

    Args:
        conversation_id: the id; None makes a new uuid7 (per call when decorating);
            as a decorator, also a callable given the decorated function's arguments.
        user_id: the end user; inherited from the enclosing conversation when None.
        agent_id: the agent; inherited from the enclosing conversation when None.
        metadata: extra key/values, merged over the enclosing conversation's (inner wins).
        inherit: keep the enclosing conversation's id when there is one.

    Example:
        >>> with conversation("conv-42", user_id="user-alice") as conv:
        ...     conv.conversation_id
        'conv-42'
    """

    __slots__ = ("_extras", "_id", "_more", "_root", "_token")

    def __init__(
        self,
        conversation_id: IdSource = None,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        inherit: bool = False,
    ) -> None:
        self._id = conversation_id
        self._token: Token[Conversation | None] | None = None
        self._more: list[tuple[Conversation, Token[Conversation | None]]] | None = None
        self._root: Conversation | None = None  # entered as is when nothing encloses it
        if user_id is None and agent_id is None and metadata is None and not inherit:
            self._extras: _Extras | None = None  # the common case, kept cheap
            if type(conversation_id) is str:
                self._root = _ROOTS.get(conversation_id) or _checked_root(conversation_id)
                return
        else:
            _check_extras(user_id, agent_id, metadata)
            self._extras = (user_id, agent_id, metadata, inherit)
        if type(conversation_id) is str:
            _check_id(conversation_id)
            if metadata is None and not inherit:  # `conversation(id, user_id=...)`
                self._root = root_conversation(conversation_id, user_id, agent_id)
        else:
            _check_id_source(conversation_id)

    # -- context manager -------------------------------------------------------------

    def __enter__(self) -> Conversation:
        root = self._root
        # the hot path: `with conversation(id):` with nothing around it
        if root is not None and self._token is None and get_raw() is None:
            self._token = set_raw(root)
            return root
        return self._enter()

    def _enter(self) -> Conversation:
        cid = self._id
        if callable(cid):
            raise TypeError(
                "a callable conversation_id is only for decorating a function; "
                "as a context manager give a str or None"
            )
        if self._token is None:
            self._token = set_raw(conv := self._build(get_raw(), cid))
            return conv
        # the same object entered again (nested, or concurrently in other tasks): a fresh
        # Conversation per entry, so that __exit__ can tell the entries apart by identity
        conv = self._build(get_raw(), cid, fresh=True)
        if self._more is None:
            self._more = []
        self._more.append((conv, set_raw(conv)))
        return conv

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token = self._token
        if token is not None and not self._more:
            self._token = None
            reset_raw(token)
            return
        self._exit_slow()

    def _exit_slow(self) -> None:
        more = self._more
        if more:
            now = get_raw()
            for i, (conv, token) in enumerate(more):
                if conv is now:
                    del more[i]
                    reset_raw(token)
                    return
        first = self._token
        if first is None:
            raise RuntimeError("conversation scope exited without being entered")
        self._token = None
        reset_raw(first)

    async def __aenter__(self) -> Conversation:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def _build(
        self, outer: Conversation | None, cid: str | None, *, fresh: bool = False
    ) -> Conversation:
        """The conversation to enter, given what encloses it."""
        extras = self._extras
        if extras is None:
            if outer is None:
                if cid is None:
                    return make(new_conversation_id(), None, None, EMPTY_METADATA)
                return make(cid, None, None, EMPTY_METADATA) if fresh else root_conversation(cid)
            return inherit(outer, new_conversation_id() if cid is None else cid)
        user_id, agent_id, metadata, keep_outer = extras
        if keep_outer and outer is not None and outer.conversation_id:
            cid = outer.conversation_id
        elif cid is None:
            cid = new_conversation_id()
        return inherit(outer, cid, user_id, agent_id, metadata)

    # -- decorator ---------------------------------------------------------------------

    def __call__(self, fn: F) -> F:
        if not callable(fn):
            raise TypeError(
                f"conversation(...) decorates a function, got {type(fn).__name__}; "
                "as a bare decorator write @conversation() with parentheses"
            )
        cid = self._id
        if callable(cid):
            id_fn = cid

            def decide(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Conversation:
                value = id_fn(*args, **kwargs)
                if value is not None and (type(value) is not str or not value):
                    raise TypeError(
                        "the conversation_id callable must return a non-empty str or None, "
                        f"got {value!r}"
                    )
                return self._build(get_raw(), value)

        elif cid is None or (self._extras is not None and self._extras[3]):

            def decide(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Conversation:
                return self._build(get_raw(), cid)

        else:  # a fixed id: outside any conversation the same frozen object serves every call
            fixed = self._build(None, cid)

            def decide(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Conversation:
                outer = get_raw()
                return fixed if outer is None else self._build(outer, cid)

        return cast(F, _wrap(fn, decide))


def _wrap(
    fn: Callable[..., Any],
    decide: Callable[[tuple[Any, ...], dict[str, Any]], Conversation],
) -> Callable[..., Any]:
    """A wrapper of the same kind as `fn` that runs each call inside `decide(args, kwargs)`."""
    if inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn):

        def prepare(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hooks:
            conv = decide(args, kwargs)  # decided once per call, held at every step
            return Hooks(lambda: set_raw(conv), reset_raw)

        wrap = wrap_async_generator if inspect.isasyncgenfunction(fn) else wrap_generator
        return functools.wraps(fn)(wrap(fn, prepare))
    if inspect.iscoroutinefunction(fn):

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            token = set_raw(decide(args, kwargs))
            try:
                return await fn(*args, **kwargs)
            finally:
                reset_raw(token)

        return functools.wraps(fn)(async_wrapper)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = set_raw(decide(args, kwargs))
        try:
            return fn(*args, **kwargs)
        finally:
            reset_raw(token)

    return functools.wraps(fn)(wrapper)


def _check_id(value: str) -> None:
    if not value or value.isspace():
        raise ValueError(f"conversation_id must be a non-empty string, got {value!r}")


def _checked_root(conversation_id: str) -> Conversation:
    """The memoised root conversation for an id not seen yet, once the id is checked."""
    _check_id(conversation_id)
    return root_conversation(conversation_id)


def _check_id_source(value: object) -> None:
    if value is None or callable(value):
        return
    raise TypeError(
        "conversation_id must be a str, None, or (as a decorator) a callable returning a str; "
        f"got {type(value).__name__}: {value!r}"
    )


def _check_extras(user_id: object, agent_id: object, metadata: object) -> None:
    check_optional_id(user_id, "user_id")
    check_optional_id(agent_id, "agent_id")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a mapping, got {type(metadata).__name__}")
