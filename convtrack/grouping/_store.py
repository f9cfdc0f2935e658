"""Where history hashes live: the Store protocols and the in-process MemoryStore.

A store maps a key (a hex digest) to a value (a conversation id), with a TTL,
and answers one question per request in one call: "which of these keys, tried in
order, is the first one you hold?". The contract:

- ``claim(keys)``: find the first present key, **delete it** and return it,
  atomically: of many concurrent claims of one key, exactly one gets it.
- ``peek(keys)``: find the first present key and keep it; mark it *continued*
  and report whether it already was (``StoreHit.seen``), atomically.
- ``put(key, value, ttl)``: store a fresh (not yet continued) entry for ``ttl``
  seconds, replacing any entry under that key.

Both lookups return ``StoreHit(position, value, seen)`` (an index into ``keys``) or
``None``. ``keys`` may be lazily computed: read them in order and stop at the hit.
A store signals trouble by raising; the grouper logs it and starts a new
conversation. ``AsyncStore`` has the same methods as coroutines.

A store that several processes share (``RedisStore``) says so with a ``shared``
attribute set to True: a ``ConversationGrouper`` over it then needs a secret common
to those processes (``secret=`` or ``$CONVTRACK_GROUPING_SECRET``). A store without
the attribute counts as not shared.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol


class StoreHit(NamedTuple):
    """The first of the keys a store holds.

    Attributes:
        position: index of the key in the ``keys`` given to ``claim``/``peek``.
        value: the value stored under it (a conversation id).
        seen: ``peek`` only: the key had already been continued before this call.
    """

    position: int
    value: str
    seen: bool = False


class Store(Protocol):
    """A synchronous store for history hashes (see the module docstring for the contract)."""

    def claim(self, keys: Sequence[str]) -> StoreHit | None:
        """Return the first present key's hit and delete the key, atomically."""
        ...

    def peek(self, keys: Sequence[str]) -> StoreHit | None:
        """Return the first present key's hit, keep it, and mark it continued."""
        ...

    def put(self, key: str, value: str, ttl: float) -> None:
        """Store `value` under `key` for `ttl` seconds, as not yet continued."""
        ...


class AsyncStore(Protocol):
    """An asynchronous store for history hashes: ``Store`` with coroutine methods."""

    async def claim(self, keys: Sequence[str]) -> StoreHit | None:
        """Return the first present key's hit and delete the key, atomically."""
        ...

    async def peek(self, keys: Sequence[str]) -> StoreHit | None:
        """Return the first present key's hit, keep it, and mark it continued."""
        ...

    async def put(self, key: str, value: str, ttl: float) -> None:
        """Store `value` under `key` for `ttl` seconds, as not yet continued."""
        ...


class _Entry(NamedTuple):
    value: str
    expires_at: float
    seen: bool


class MemoryStore:
    """An in-process, thread-safe store with a TTL per entry and a bound on entries.

    Entries are kept in insertion order (a ``put`` moves its key to the end), so
    the oldest come first: expired ones are dropped from the front as new ones
    arrive, and past ``max_entries`` the oldest entry is evicted. Each operation
    is O(1) amortised (plus one step per key tried by a lookup).

    Args:
        max_entries: the most entries held at once.
        clock: monotonic time source in seconds (injectable for tests).
    """

    shared = False
    """One process's memory: a grouper over it may draw a random secret."""

    def __init__(
        self, max_entries: int = 100_000, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int):
            raise TypeError(f"max_entries must be an int, got {type(max_entries).__name__}")
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        if not callable(clock):
            raise TypeError("clock must be a callable returning seconds")
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._data: OrderedDict[str, _Entry] = OrderedDict()

    @property
    def max_entries(self) -> int:
        """The most entries held at once."""
        return self._max

    def claim(self, keys: Sequence[str]) -> StoreHit | None:
        """Return the first live key's hit and delete the key, atomically."""
        return self._lookup(keys, consume=True)

    def peek(self, keys: Sequence[str]) -> StoreHit | None:
        """Return the first live key's hit, keep it, and mark it continued, atomically."""
        return self._lookup(keys, consume=False)

    def put(self, key: str, value: str, ttl: float) -> None:
        """Store `value` under `key` for `ttl` seconds, as not yet continued."""
        with self._lock:
            now = self._clock()
            data = self._data
            data[key] = _Entry(value, now + ttl, False)
            data.move_to_end(key)
            self._drop_expired(now)
            while len(data) > self._max:
                data.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            self._drop_expired(self._clock())
            return len(self._data)

    def __repr__(self) -> str:
        return f"MemoryStore(max_entries={self._max})"

    def _lookup(self, keys: Sequence[str], *, consume: bool) -> StoreHit | None:
        data = self._data
        with self._lock:
            now = self._clock()
            for index, key in enumerate(keys):
                entry = data.get(key)
                if entry is None:
                    continue
                if entry.expires_at <= now:
                    del data[key]
                    continue
                if consume:
                    del data[key]
                    return StoreHit(index, entry.value)
                if not entry.seen:
                    data[key] = entry._replace(seen=True)
                return StoreHit(index, entry.value, entry.seen)
        return None

    def _drop_expired(self, now: float) -> None:
        data = self._data
        while data:
            key, entry = next(iter(data.items()))
            if entry.expires_at > now:
                return
            del data[key]
