"""@conversation as a decorator on every kind of function."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

import convtrack as ct


def test_fixed_id_sync() -> None:
    """A decorated function runs inside its conversation; the caller's context is untouched."""

    @ct.conversation(conversation_id="session-123", user_id="u")
    def handle(msg: str) -> tuple[str | None, str | None, str]:
        return ct.get_conversation_id(), ct.get_user_id(), msg

    assert handle("hi") == ("session-123", "u", "hi")
    assert ct.current() is None


def test_fixed_id_inherits_user_from_caller() -> None:
    """A fixed-id decorator inherits the caller's user when it names none."""

    @ct.conversation("s")
    def who() -> str | None:
        return ct.get_user_id()

    assert who() is None
    with ct.conversation("outer", user_id="alice"):
        assert who() == "alice"


async def test_async_function() -> None:
    """An async function holds its conversation across awaits."""

    @ct.conversation(conversation_id="a-1")
    async def handle() -> str | None:
        import asyncio

        await asyncio.sleep(0)
        return ct.get_conversation_id()

    assert inspect.iscoroutinefunction(handle)
    assert await handle() == "a-1"
    assert ct.current() is None


@dataclass
class Request:
    session_id: str


def test_id_from_arguments() -> None:
    """A callable id is given the call's arguments."""

    @ct.conversation(conversation_id=lambda req: req.session_id)
    def handle_request(req: Request) -> str | None:
        return ct.get_conversation_id()

    assert handle_request(Request("s-1")) == "s-1"
    assert handle_request(req=Request("s-2")) == "s-2"


def test_id_callable_returning_garbage() -> None:
    """A callable returning a non-string is a TypeError at call time."""

    @ct.conversation(conversation_id=lambda: 12)
    def handle() -> None:
        raise AssertionError("not reached")

    with pytest.raises(TypeError, match="callable must return"):
        handle()


def test_no_id_gives_each_call_its_own() -> None:
    """Without an id every call gets a new conversation."""

    @ct.conversation()
    def handle() -> str | None:
        return ct.get_conversation_id()

    first, second = handle(), handle()
    assert first != second
    assert uuid.UUID(str(first)).version == 7


def test_exceptions_pass_through_unchanged() -> None:
    """The wrapped function's exception reaches the caller as is, context restored."""
    error = ValueError("bad")

    @ct.conversation("e")
    def fail() -> None:
        raise error

    with pytest.raises(ValueError) as caught:
        fail()
    assert caught.value is error
    assert ct.current() is None


def test_metadata_preserved() -> None:
    """__name__, __doc__, signature and __wrapped__ are the function's."""

    def handle(msg: str, *, flag: bool = False) -> str:
        """Handle a message."""
        return msg

    decorated = ct.conversation("x")(handle)
    assert decorated.__name__ == "handle"
    assert decorated.__doc__ == "Handle a message."
    assert inspect.signature(decorated) == inspect.signature(handle)
    assert decorated.__wrapped__ is handle  # type: ignore[attr-defined]


def test_methods() -> None:
    """Methods, classmethods and staticmethods work; `self` reaches the id callable."""

    class Bot:
        def __init__(self, cid: str) -> None:
            self.cid = cid

        @ct.conversation(conversation_id=lambda self, msg: self.cid)
        def reply(self, msg: str) -> str | None:
            return ct.get_conversation_id()

        @classmethod
        @ct.conversation("cls")
        def make(cls) -> str | None:
            return ct.get_conversation_id()

        @staticmethod
        @ct.conversation("static")
        def util() -> str | None:
            return ct.get_conversation_id()

    assert Bot("b-1").reply("hi") == "b-1"
    assert Bot.make() == "cls"
    assert Bot.util() == "static"


def test_generator_does_not_leak() -> None:
    """A decorated generator holds its conversation while it runs, not between yields."""

    @ct.conversation("gen")
    def numbers() -> Iterator[tuple[int, str | None]]:
        for i in range(3):
            yield i, ct.get_conversation_id()

    seen = []
    for i, inside in numbers():
        seen.append((i, inside, ct.get_conversation_id()))
    assert seen == [(0, "gen", None), (1, "gen", None), (2, "gen", None)]


def test_generator_send_throw_close_and_return() -> None:
    """send(), throw(), close() and the return value behave as without the decorator."""
    closed = []

    @ct.conversation("gen")
    def echo() -> Iterator[object]:
        received = None
        try:
            while True:
                try:
                    received = yield (received, ct.get_conversation_id())
                except KeyError as exc:
                    received = f"caught {exc.args[0]}"
        finally:
            closed.append(ct.get_conversation_id())

    gen = echo()
    assert next(gen) == (None, "gen")
    assert gen.send("x") == ("x", "gen")
    assert gen.throw(KeyError("k")) == ("caught k", "gen")
    gen.close()
    assert closed == ["gen"]

    @ct.conversation("ret")
    def returns() -> Iterator[int]:
        yield 1
        return 5

    def outer() -> Iterator[int]:
        value = yield from returns()
        assert value == 5

    assert list(outer()) == [1]


async def test_async_generator_does_not_leak() -> None:
    """A decorated async generator releases its conversation at every yield."""

    @ct.conversation("agen")
    async def stream() -> AsyncIterator[str | None]:
        for _ in range(2):
            yield ct.get_conversation_id()

    items = []
    async for inside in stream():
        items.append((inside, ct.get_conversation_id()))
    assert items == [("agen", None), ("agen", None)]


async def test_async_generator_close() -> None:
    """aclose() runs the generator's cleanup inside its conversation."""
    cleaned = []

    @ct.conversation("agen")
    async def stream() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            cleaned.append(ct.get_conversation_id())

    gen = stream()
    assert await gen.__anext__() == 1
    await gen.aclose()
    assert cleaned == ["agen"]


def test_bare_decorator_is_a_clear_error() -> None:
    """@conversation without parentheses fails with a message saying how to fix it."""

    @ct.conversation  # type: ignore[arg-type]
    def handle(msg: str) -> None:
        pass

    with pytest.raises(TypeError, match=r"@conversation\(\) with parentheses"):
        handle("hi")  # type: ignore[call-arg]
