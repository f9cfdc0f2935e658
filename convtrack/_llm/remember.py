"""Remembering answers: the histories an answered call leaves for the next turn to match.

(The same module ships in convtrack-openai and convtrack-anthropic.)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any, NamedTuple

from convtrack._resolve import Decision, aremember, remember


class Memory(NamedTuple):
    """One history to remember after the call: `always` even when not grouped automatically."""

    history: Sequence[Any]
    system: Any
    always: bool = False


def remember_now(decision: Decision, memory: Memory) -> None:
    """Remember one history (guarded by the core)."""
    remember(decision, memory.history, system=memory.system, always=memory.always)


async def aremember_now(decision: Decision, memory: Memory) -> None:
    """`remember_now()` for async code (an async store is awaited)."""
    await aremember(decision, memory.history, system=memory.system, always=memory.always)


# A stream that ends by being garbage-collected remembers its answer later: a finaliser
# may run while this very thread holds a store's lock. The next call made with this
# integration remembers them first, before it looks its own conversation up.
_deferred: deque[tuple[Decision, Memory]] = deque(maxlen=1024)


def defer(decision: Decision, memories: list[Memory]) -> None:
    """Queue memories to remember at the start of the next call (lock-free)."""
    for memory in memories:
        _deferred.append((decision, memory))


def drain_deferred() -> None:
    """Remember what finalised streams left (sync code)."""
    while _deferred:
        try:
            decision, memory = _deferred.popleft()
        except IndexError:  # another thread took the last one
            return
        remember_now(decision, memory)


async def adrain_deferred() -> None:
    """Remember what finalised streams left (async code)."""
    while _deferred:
        try:
            decision, memory = _deferred.popleft()
        except IndexError:
            return
        await aremember_now(decision, memory)
