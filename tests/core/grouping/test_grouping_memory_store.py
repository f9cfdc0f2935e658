"""MemoryStore: TTL, bound, atomic claim and peek, thread safety."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from convtrack.grouping import MemoryStore, StoreHit


def test_claim_returns_the_first_present_key_and_deletes_it() -> None:
    """claim() tries keys in order, returns the first held one with its position, deletes it."""
    store = MemoryStore()
    store.put("k2", "conv-2", 60)
    store.put("k3", "conv-3", 60)
    assert store.claim(["k1", "k2", "k3"]) == StoreHit(1, "conv-2", False)
    assert store.claim(["k1", "k2", "k3"]) == StoreHit(2, "conv-3", False)
    assert store.claim(["k1", "k2", "k3"]) is None
    assert len(store) == 0


def test_peek_keeps_the_key_and_reports_an_earlier_continuation() -> None:
    """peek() keeps the entry; the first peek sees it fresh, later peeks see it continued."""
    store = MemoryStore()
    store.put("k", "conv", 60)
    assert store.peek(["x", "k"]) == StoreHit(1, "conv", False)
    assert store.peek(["k"]) == StoreHit(0, "conv", True)
    assert len(store) == 1


def test_put_replaces_the_entry_as_not_yet_continued() -> None:
    """put() over an existing key stores the new value, fresh."""
    store = MemoryStore()
    store.put("k", "conv", 60)
    store.peek(["k"])
    store.put("k", "conv-b", 60)
    assert store.peek(["k"]) == StoreHit(0, "conv-b", False)


def test_entries_expire_after_their_ttl(clock: Any) -> None:
    """An entry is live for ttl seconds, then neither claimable, peekable nor counted."""
    store = MemoryStore(clock=clock)
    store.put("a", "conv-a", 10)
    store.put("b", "conv-b", 10)
    clock.advance(9.99)
    assert store.peek(["a"]) == StoreHit(0, "conv-a", False)
    clock.advance(0.01)
    assert store.peek(["a"]) is None
    assert store.claim(["b"]) is None
    assert len(store) == 0


def test_put_again_restarts_the_ttl(clock: Any) -> None:
    """Storing a key again refreshes its expiry."""
    store = MemoryStore(clock=clock)
    store.put("a", "conv-a", 10)
    clock.advance(8)
    store.put("a", "conv-a", 10)
    clock.advance(8)
    assert store.claim(["a"]) == StoreHit(0, "conv-a")


def test_bound_evicts_the_oldest_entries() -> None:
    """Past max_entries, the least recently stored entries go first."""
    store = MemoryStore(max_entries=3)
    for key in ("a", "b", "c"):
        store.put(key, f"conv-{key}", 60)
    store.put("a", "conv-a", 60)  # refreshed: now the newest
    store.put("d", "conv-d", 60)
    assert len(store) == 3
    assert store.claim(["b"]) is None
    assert [store.claim([k]) is not None for k in ("a", "c", "d")] == [True, True, True]


def test_expired_entries_are_dropped_before_live_ones_are_evicted(clock: Any) -> None:
    """Expired entries at the front make room without evicting live ones."""
    store = MemoryStore(max_entries=2, clock=clock)
    store.put("old", "conv-old", 1)
    store.put("live", "conv-live", 100)
    clock.advance(2)
    store.put("new", "conv-new", 100)
    assert store.claim(["live"]) == StoreHit(0, "conv-live")
    assert store.claim(["new"]) == StoreHit(0, "conv-new")


def test_expired_entries_are_released_as_new_ones_arrive(clock: Any) -> None:
    """A put frees the expired entries at the front even below the bound."""
    store = MemoryStore(max_entries=100, clock=clock)
    for i in range(10):
        store.put(f"old{i}", "c", 5)
    clock.advance(6)
    store.put("new", "c", 5)
    assert list(store._data) == ["new"]


def test_a_full_store_stays_at_its_bound() -> None:
    """Many puts never hold more than max_entries."""
    store = MemoryStore(max_entries=100)
    for i in range(1000):
        store.put(f"k{i}", "c", 60)
    assert len(store) == 100
    assert store.claim(["k899"]) is None
    assert store.claim(["k999"]) is not None


def test_lookup_reads_keys_only_up_to_the_hit() -> None:
    """Keys after the hit are never read (they may be computed lazily)."""
    read: list[int] = []

    class Keys(Sequence[str]):
        def __len__(self) -> int:
            return 10

        def __getitem__(self, i: Any) -> Any:
            read.append(i)
            return f"k{i}"

        def __iter__(self) -> Iterator[str]:
            for i in range(10):
                yield self[i]

    store = MemoryStore()
    store.put("k2", "conv", 60)
    assert store.claim(Keys()) == StoreHit(2, "conv")
    assert read == [0, 1, 2]


@pytest.mark.parametrize("method", ["claim", "peek"])
def test_sixteen_threads_claiming_one_key_exactly_one_wins(method: str) -> None:
    """Concurrent claims: exactly one gets the key; concurrent peeks: exactly one sees it fresh."""
    store = MemoryStore()
    store.put("k", "conv", 60)
    barrier = threading.Barrier(16)
    results: list[StoreHit | None] = []

    def worker() -> None:
        barrier.wait()
        results.append(getattr(store, method)(["k"]))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 16
    if method == "claim":
        assert results.count(StoreHit(0, "conv")) == 1
        assert results.count(None) == 15
    else:
        assert results.count(StoreHit(0, "conv", False)) == 1
        assert results.count(StoreHit(0, "conv", True)) == 15


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_entries": 0}, ValueError),
        ({"max_entries": "10"}, TypeError),
        ({"max_entries": True}, TypeError),
        ({"clock": 5}, TypeError),
    ],
)
def test_invalid_arguments_are_rejected(kwargs: dict[str, Any], error: type[Exception]) -> None:
    """max_entries must be a positive int and clock a callable."""
    with pytest.raises(error):
        MemoryStore(**kwargs)
