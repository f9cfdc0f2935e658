"""RedisStore and AsyncRedisStore: history hashes shared by every replica of an app."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import redis
import redis.asyncio
from redis.exceptions import NoScriptError

from convtrack.grouping import StoreHit
from convtrack_redis._common import (
    FRESH,
    LOOKUP_SCRIPT,
    LOOKUP_SHA,
    UNREACHABLE,
    Backoff,
    check_prefix,
    parse_reply,
    px,
)


class RedisStore:
    """A ``convtrack.grouping.Store`` in Redis: one round trip per lookup, one per put.

    A lookup runs one server-side Lua script (``EVALSHA``; ``EVAL`` the first
    time and whenever the server lost the script) that tries the keys in order
    and claims or marks the first one present, atomically. A put is one ``SET``
    with ``PX``. Redis errors are raised (the grouper logs them and starts a new
    conversation); after a connection error the store raises
    ``RedisUnavailableError`` without contacting Redis for ``backoff`` seconds.

    Args:
        client: a ``redis.Redis`` (``decode_responses`` either way). Give it short
            ``socket_connect_timeout``/``socket_timeout`` and few retries: grouping
            runs inside the app's chat calls.
        prefix: prepended to every key (use a hash tag, e.g. ``"{convtrack}:"``,
            with Redis Cluster, as one lookup's keys must share a slot).
        backoff: seconds to skip Redis after a connection error (0: never skip).
        clock: monotonic time source for the back-off (injectable for tests).
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "convtrack:",
        backoff: float = 2.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if isinstance(client, redis.asyncio.Redis):
            raise TypeError("RedisStore needs a redis.Redis client; use AsyncRedisStore")
        self._client: Any = client
        self._prefix = check_prefix(prefix)
        self._backoff = Backoff(backoff) if clock is None else Backoff(backoff, clock)
        self._script_loaded = False

    def __repr__(self) -> str:
        return f"RedisStore(prefix={self._prefix!r}, backoff={self._backoff.seconds:g})"

    def claim(self, keys: Sequence[str]) -> StoreHit | None:
        """Return the first present key's hit and delete the key, atomically."""
        return self._lookup(keys, "claim")

    def peek(self, keys: Sequence[str]) -> StoreHit | None:
        """Return the first present key's hit, keep it, and mark it continued, atomically."""
        return self._lookup(keys, "peek")

    def put(self, key: str, value: str, ttl: float) -> None:
        """Store `value` under `key` for `ttl` seconds, as not yet continued."""
        self._backoff.check()
        try:
            self._client.set(self._prefix + key, FRESH + value, px=px(ttl))
        except UNREACHABLE:
            self._backoff.failed()
            raise

    def _lookup(self, keys: Sequence[str], op: str) -> StoreHit | None:
        self._backoff.check()
        names = [self._prefix + key for key in keys]
        if not names:
            return None
        try:
            reply = self._eval(names, op)
        except UNREACHABLE:
            self._backoff.failed()
            raise
        return parse_reply(reply, peek=op == "peek")

    def _eval(self, names: list[str], op: str) -> Any:
        if self._script_loaded:
            try:
                return self._client.evalsha(LOOKUP_SHA, len(names), *names, op)
            except NoScriptError:
                pass  # the server restarted or flushed its scripts
        reply = self._client.eval(LOOKUP_SCRIPT, len(names), *names, op)
        self._script_loaded = True
        return reply


class AsyncRedisStore:
    """A ``convtrack.grouping.AsyncStore`` in Redis, for ``redis.asyncio.Redis``.

    Behaves as ``RedisStore`` (same script, values, back-off and arguments);
    use it with ``ConversationGrouper.aresolve()``/``aremember()``.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        prefix: str = "convtrack:",
        backoff: float = 2.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if isinstance(client, redis.Redis):
            raise TypeError("AsyncRedisStore needs a redis.asyncio.Redis client; use RedisStore")
        self._client: Any = client
        self._prefix = check_prefix(prefix)
        self._backoff = Backoff(backoff) if clock is None else Backoff(backoff, clock)
        self._script_loaded = False

    def __repr__(self) -> str:
        return f"AsyncRedisStore(prefix={self._prefix!r}, backoff={self._backoff.seconds:g})"

    async def claim(self, keys: Sequence[str]) -> StoreHit | None:
        """Return the first present key's hit and delete the key, atomically."""
        return await self._lookup(keys, "claim")

    async def peek(self, keys: Sequence[str]) -> StoreHit | None:
        """Return the first present key's hit, keep it, and mark it continued, atomically."""
        return await self._lookup(keys, "peek")

    async def put(self, key: str, value: str, ttl: float) -> None:
        """Store `value` under `key` for `ttl` seconds, as not yet continued."""
        self._backoff.check()
        try:
            await self._client.set(self._prefix + key, FRESH + value, px=px(ttl))
        except UNREACHABLE:
            self._backoff.failed()
            raise

    async def _lookup(self, keys: Sequence[str], op: str) -> StoreHit | None:
        self._backoff.check()
        names = [self._prefix + key for key in keys]
        if not names:
            return None
        try:
            reply = await self._eval(names, op)
        except UNREACHABLE:
            self._backoff.failed()
            raise
        return parse_reply(reply, peek=op == "peek")

    async def _eval(self, names: list[str], op: str) -> Any:
        if self._script_loaded:
            try:
                return await self._client.evalsha(LOOKUP_SHA, len(names), *names, op)
            except NoScriptError:
                pass  # the server restarted or flushed its scripts
        reply = await self._client.eval(LOOKUP_SCRIPT, len(names), *names, op)
        self._script_loaded = True
        return reply
