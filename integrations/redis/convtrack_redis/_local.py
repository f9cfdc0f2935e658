"""LocalMirror: what this process remembered, so that grouping goes on while Redis is away."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from convtrack.grouping import MemoryStore, StoreHit

Op = Literal["claim", "peek"]
# Each local value starts with one of these: Redis stored the entry too, or it did not.
_SYNCED = "s"
_UNSYNCED = "u"


class LocalMirror:
    """A bounded in-memory copy of this process's puts, each marked synced to Redis or not.

    While Redis is unreachable, lookups are answered from the mirror, so the turns
    of a chat served by this process stay in one conversation. Once Redis answers
    again it decides; an entry it never received (put during the outage) still
    matches when Redis has nothing, so a chat continued through the outage stays
    whole. Every lookup is repeated on the mirror, so that a key Redis consumed is
    consumed here too.

    Args:
        max_entries: the most entries held (the oldest go first).
    """

    __slots__ = ("_store",)

    def __init__(self, max_entries: int) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int):
            raise TypeError(f"fallback_entries must be an int, got {type(max_entries).__name__}")
        if max_entries < 1:
            raise ValueError(f"fallback_entries must be at least 1, got {max_entries}")
        self._store = MemoryStore(max_entries)

    @property
    def max_entries(self) -> int:
        """The most entries held."""
        return self._store.max_entries

    def put(self, key: str, value: str, ttl: float, *, synced: bool) -> None:
        """Record a put, and whether Redis stored it too."""
        self._store.put(key, (_SYNCED if synced else _UNSYNCED) + value, ttl)

    def lookup(self, keys: Sequence[str], op: Op) -> StoreHit | None:
        """Answer a lookup on the mirror alone (Redis is unreachable)."""
        hit = self._apply(keys, op)
        return None if hit is None else hit._replace(value=hit.value[1:])

    def after_redis(self, keys: Sequence[str], op: Op, hit: StoreHit | None) -> StoreHit | None:
        """Repeat a lookup Redis answered with `hit`; on a miss, use an entry Redis never had."""
        local = self._apply(keys, op)
        if hit is None and local is not None and local.value[:1] == _UNSYNCED:
            return local._replace(value=local.value[1:])
        return hit

    def __len__(self) -> int:
        return len(self._store)

    def _apply(self, keys: Sequence[str], op: Op) -> StoreHit | None:
        return self._store.claim(keys) if op == "claim" else self._store.peek(keys)
