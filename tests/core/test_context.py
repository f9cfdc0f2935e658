"""The conversation context: scopes, set/reset, inheritance, validation."""

from __future__ import annotations

import asyncio
import uuid

import pytest

import convtrack as ct


def test_scope_sets_and_restores() -> None:
    """Inside the scope the id is current; after it, nothing is."""
    assert ct.get_conversation_id() is None
    with ct.conversation("conv-42", user_id="user-alice") as conv:
        assert conv.conversation_id == "conv-42"
        assert ct.get_conversation_id() == "conv-42"
        assert ct.get_user_id() == "user-alice"
        assert ct.current() == conv
    assert ct.current() is None
    assert ct.get_user_id() is None


def test_innermost_wins_and_outer_restored() -> None:
    """Nested scopes: the innermost is current; leaving restores the outer exactly."""
    with ct.conversation("outer") as outer:
        with ct.conversation("inner"):
            assert ct.get_conversation_id() == "inner"
        assert ct.current() is outer


def test_user_and_agent_inherited_unless_given() -> None:
    """user_id/agent_id come from the enclosing conversation unless given."""
    with ct.conversation("a", user_id="u1", agent_id="bot"):
        with ct.conversation("b") as b:
            assert (b.user_id, b.agent_id) == ("u1", "bot")
        with ct.conversation("c", user_id="u2") as c:
            assert (c.user_id, c.agent_id) == ("u2", "bot")


def test_metadata_merges_inner_wins() -> None:
    """Metadata merges with the enclosing one, inner keys winning, and is read-only."""
    with (
        ct.conversation("a", metadata={"x": 1, "y": 1}),
        ct.conversation("b", metadata={"y": 2}) as b,
    ):
        assert dict(b.metadata) == {"x": 1, "y": 2}
        with pytest.raises(TypeError):
            b.metadata["z"] = 3  # type: ignore[index]


def test_no_id_makes_a_uuid7() -> None:
    """Without an id each scope gets a fresh uuid7 string."""
    with ct.conversation() as first, ct.conversation() as second:
        pass
    assert first.conversation_id != second.conversation_id
    assert uuid.UUID(first.conversation_id).version == 7
    assert uuid.UUID(ct.new_conversation_id()).version == 7


def test_inherit_keeps_enclosing() -> None:
    """inherit=True keeps the enclosing conversation, or makes one when there is none."""
    with ct.conversation("outer"), ct.conversation(inherit=True) as inner:
        assert inner.conversation_id == "outer"
    with ct.conversation(inherit=True) as alone:
        assert uuid.UUID(alone.conversation_id).version == 7
    with ct.conversation("outer"), ct.conversation("given", inherit=True) as inner:
        assert inner.conversation_id == "outer"


def test_exception_restores_and_passes_through() -> None:
    """An exception leaves the scope restored and reaches the caller unchanged."""
    error = KeyError("boom")
    with pytest.raises(KeyError) as caught, ct.conversation("a"):
        raise error
    assert caught.value is error
    assert ct.current() is None


async def test_async_with() -> None:
    """The scope works with `async with`."""
    async with ct.conversation("async-conv") as conv:
        await asyncio.sleep(0)
        assert ct.get_conversation_id() == conv.conversation_id == "async-conv"
    assert ct.current() is None


async def test_same_scope_object_entered_concurrently() -> None:
    """One scope object entered by interleaved tasks restores each task's own context."""
    shared = ct.conversation(user_id="shared-user")
    seen: list[str | None] = []

    async def task(delay: float) -> None:
        with shared as conv:
            await asyncio.sleep(delay)
            assert ct.current() is conv
        seen.append(ct.get_conversation_id())

    await asyncio.gather(task(0.02), task(0.01), task(0.0))
    assert seen == [None, None, None]


def test_same_scope_object_nested() -> None:
    """Entering the same scope object twice nests and unwinds correctly."""
    scope = ct.conversation()
    with scope as first:
        with scope as second:
            assert ct.current() is second
        assert ct.current() is first
    assert ct.current() is None


def test_set_conversation_id_and_reset() -> None:
    """set_conversation_id() makes an id current until reset(token)."""
    with ct.conversation("outer", user_id="u"):
        token = ct.set_conversation_id("session-123")
        assert ct.get_conversation_id() == "session-123"
        assert ct.get_user_id() == "u"
        ct.reset(token)
        assert ct.get_conversation_id() == "outer"


def test_set_user_id_outside_a_conversation() -> None:
    """A user set outside any conversation is current and inherited by later scopes."""
    token = ct.set_user_id("user-alice")
    try:
        assert ct.get_user_id() == "user-alice"
        assert ct.current() is None
        assert ct.get_conversation_id() is None
        with ct.conversation("c") as conv:
            assert conv.user_id == "user-alice"
    finally:
        ct.reset(token)
    assert ct.get_user_id() is None


def test_set_user_id_inside_a_conversation() -> None:
    """set_user_id() inside a conversation keeps its id."""
    with ct.conversation("c"):
        token = ct.set_user_id("u2")
        assert (ct.get_conversation_id(), ct.get_user_id()) == ("c", "u2")
        ct.reset(token)
        assert ct.get_user_id() is None


@pytest.mark.parametrize("bad", [42, 4.2, b"bytes", ["x"]])
def test_non_string_id_is_a_type_error(bad: object) -> None:
    """Ids that are not strings raise TypeError naming what was expected."""
    with pytest.raises(TypeError, match="conversation_id must be a str"):
        ct.conversation(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="conversation_id must be a str"):
        ct.set_conversation_id(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "   "])
def test_empty_id_is_a_value_error(bad: str) -> None:
    """Empty or blank ids raise ValueError."""
    with pytest.raises(ValueError, match="non-empty"):
        ct.conversation(bad)
    with pytest.raises(ValueError, match="non-empty"):
        ct.set_conversation_id(bad)


def test_bad_user_agent_metadata() -> None:
    """user_id/agent_id must be str, metadata a mapping."""
    with pytest.raises(TypeError, match="user_id"):
        ct.conversation("a", user_id=7)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="agent_id"):
        ct.conversation("a", agent_id=7)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="metadata"):
        ct.conversation("a", metadata=[("k", "v")])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="user_id"):
        ct.set_user_id(3)  # type: ignore[arg-type]


def test_reset_rejects_foreign_tokens() -> None:
    """reset() only takes tokens from convtrack's setters."""
    import contextvars

    other: contextvars.ContextVar[int] = contextvars.ContextVar("other")
    token = other.set(1)
    with pytest.raises(TypeError, match="reset"):
        ct.reset(token)  # type: ignore[arg-type]
    other.reset(token)


def test_callable_id_not_for_context_manager() -> None:
    """A callable id only makes sense when decorating."""
    with pytest.raises(TypeError, match="callable"), ct.conversation(lambda: "x"):
        pass


def test_exit_without_enter() -> None:
    """Leaving a scope never entered is an error, not a silent reset."""
    with pytest.raises(RuntimeError):
        ct.conversation("a").__exit__(None, None, None)


def test_conversation_is_frozen_and_hashable() -> None:
    """Conversation is a frozen dataclass usable as a dict key."""
    import dataclasses

    with ct.conversation("a", user_id="u", metadata={"k": 1}) as conv:
        pass
    assert dataclasses.is_dataclass(conv)
    with pytest.raises(dataclasses.FrozenInstanceError):
        conv.conversation_id = "b"  # type: ignore[misc]
    assert {conv: 1}[ct.Conversation("a", "u", None, {"k": 1})] == 1


def test_conversations_with_metadata_pickle_copy_and_convert() -> None:
    """Read-only metadata still pickles, deep-copies and goes through dataclasses.asdict."""
    import copy
    import dataclasses
    import pickle

    with ct.conversation("a", metadata={"tags": ["x"]}) as conv:
        assert pickle.loads(pickle.dumps(conv)) == conv
        assert dataclasses.asdict(conv)["metadata"] == {"tags": ["x"]}
        deep = copy.deepcopy(conv)
        assert deep.metadata == conv.metadata
        assert deep.metadata["tags"] is not conv.metadata["tags"]
        with pytest.raises(TypeError, match="read-only"):
            deep.metadata.update(z=1)  # type: ignore[attr-defined]
