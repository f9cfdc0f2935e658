"""The grouping secret: given, else $CONVTRACK_GROUPING_SECRET; shared stores require one."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest

from convtrack.grouping import ConversationGrouper, MemoryStore, StoreHit

ENV = "CONVTRACK_GROUPING_SECRET"


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def bot(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


class SharedMemoryStore(MemoryStore):
    """A MemoryStore standing in for a store several processes share (as RedisStore is)."""

    shared = True


class PlainStore:
    """A third-party store that says nothing about being shared."""

    def __init__(self) -> None:
        self.inner = MemoryStore()

    def claim(self, keys: Sequence[str]) -> StoreHit | None:
        return self.inner.claim(keys)

    def peek(self, keys: Sequence[str]) -> StoreHit | None:
        return self.inner.peek(keys)

    def put(self, key: str, value: str, ttl: float) -> None:
        self.inner.put(key, value, ttl)


@pytest.fixture(autouse=True)
def no_secret_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without CONVTRACK_GROUPING_SECRET, whatever the shell has."""
    monkeypatch.delenv(ENV, raising=False)


def replicas_match(first: ConversationGrouper, second: ConversationGrouper) -> bool:
    """Whether `second` continues a conversation `first` remembered."""
    first.remember([user("hi"), bot("hello")], "conv-1")
    return second.resolve([user("hi"), bot("hello"), user("x")]).conversation_id == "conv-1"


def test_a_shared_store_without_any_secret_raises_saying_how_to_set_one() -> None:
    """shared=True, no secret= and no env var: ValueError naming both ways to give one."""
    with pytest.raises(ValueError, match="shared between processes") as info:
        ConversationGrouper(SharedMemoryStore())
    assert "secret=" in str(info.value)
    assert ENV in str(info.value)


def test_an_empty_env_var_counts_as_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """CONVTRACK_GROUPING_SECRET set to "" does not satisfy a shared store."""
    monkeypatch.setenv(ENV, "")
    with pytest.raises(ValueError, match=ENV):
        ConversationGrouper(SharedMemoryStore())


def test_the_env_var_is_the_secret_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two groupers over one shared store built with only the env var match each other."""
    monkeypatch.setenv(ENV, "from-the-environment")
    store = SharedMemoryStore()
    assert replicas_match(ConversationGrouper(store), ConversationGrouper(store))
    assert replicas_match(
        ConversationGrouper(store), ConversationGrouper(store, secret="from-the-environment")
    )


def test_an_explicit_secret_wins_over_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    """secret= is used even when the env var holds another one."""
    monkeypatch.setenv(ENV, "from-the-environment")
    store = SharedMemoryStore()
    assert not replicas_match(ConversationGrouper(store), ConversationGrouper(store, secret="x"))


def test_a_memory_store_keeps_a_random_per_grouper_secret() -> None:
    """MemoryStore (not shared) needs no secret: each grouper draws its own, so they differ."""
    store = MemoryStore()
    assert store.shared is False
    assert not replicas_match(ConversationGrouper(store), ConversationGrouper(store))


def test_a_store_without_the_attribute_is_not_shared(caplog: pytest.LogCaptureFixture) -> None:
    """A store lacking `shared` builds without a secret, with an info log; MemoryStore none."""
    with caplog.at_level(logging.INFO, logger="convtrack"):
        ConversationGrouper()
        ConversationGrouper(PlainStore(), secret="shared")
        assert not caplog.records
        ConversationGrouper(PlainStore())
    assert "without a secret" in caplog.records[0].getMessage()


def test_only_a_true_shared_attribute_demands_a_secret() -> None:
    """shared must be exactly True to require a secret (a truthy method or mock is ignored)."""

    class Odd(PlainStore):
        def shared(self) -> bool:
            return True

    ConversationGrouper(Odd())
