"""RedisStore and AsyncRedisStore: history hashes shared by every replica of an app."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import redis
import redis.asyncio
from redis.exceptions import NoScriptError

from convtrack.grouping import StoreHit
from convtrack_redis._common import (
    FRESH,
    LOOKUP_SCRIPT,
    LOOKUP_SHA,
    Backoff,
    check_prefix,
    check_seconds,
    parse_reply,
    px,
)
from convtrack_redis._deadline import Deadline, DeadlineExceeded
from convtrack_redis._local import LocalMirror, Op

# Returned by a Redis call that failed or was skipped: the local mirror answers instead.
_SKIPPED: Any = object()


class _RedisStoreBase:
    """Arguments, back-off and local mirror, common to the sync and async stores."""

    shared = True
    """Shared between processes: a grouper over it needs a common secret."""

    def __init__(
        self,
        client: object,
        prefix: str,
        timeout: float,
        backoff: float,
        fallback_entries: int,
        clock: Callable[[], float] | None,
    ) -> None:
        self._client: Any = client
        self._prefix = check_prefix(prefix)
        self._timeout = check_seconds("timeout", timeout)
        self._backoff = Backoff(backoff, clock)
        self._local = LocalMirror(fallback_entries)
        self._script_loaded = False

    @property
    def timeout(self) -> float:
        """The most seconds one store call waits for Redis."""
        return self._timeout

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(prefix={self._prefix!r}, timeout={self._timeout:g}, "
            f"backoff={self._backoff.seconds:g})"
        )

    def _names(self, keys: Sequence[str]) -> list[str]:
        prefix = self._prefix
        return [prefix + key for key in keys]

    def _answer(self, keys: Sequence[str], op: Op, reply: Any) -> StoreHit | None:
        if reply is _SKIPPED:
            return self._local.lookup(keys, op)
        return self._local.after_redis(keys, op, parse_reply(reply, peek=op == "peek"))


class RedisStore(_RedisStoreBase):
    """A ``convtrack.grouping.Store`` in Redis: one round trip per lookup, one per put.

    A lookup runs one server-side Lua script (``EVALSHA``; ``EVAL`` the first time
    and whenever the server lost the script) that tries the keys in order and claims
    or marks the first one present, atomically. A put is one ``SET`` with ``PX``.

    Grouping runs inside the app's chat calls, so no store call waits for Redis
    longer than ``timeout``, whatever the client's own settings: commands are sent
    from a few daemon worker threads and the caller stops waiting at the deadline.
    When Redis fails or overruns, the trouble is logged (rate-limited), Redis is
    skipped for ``backoff`` seconds, and meanwhile this process groups on its own
    from a local copy of what it remembered: the turns of a chat it serves stay in
    one conversation. Then Redis is used again (and decides: a turn remembered only
    locally during the outage still continues its chat here).

    Args:
        client: a ``redis.Redis`` (``decode_responses`` either way). Give it short
            timeouts and no retries (see the README) so that it recovers quickly.
        prefix: prepended to every key (use a hash tag, e.g. ``"{convtrack}:"``,
            with Redis Cluster, as one lookup's keys must share a slot).
        timeout: the most seconds one call waits for Redis (default 0.25).
        backoff: seconds to skip Redis after a failure (0: never skip).
        fallback_entries: the most entries the local copy holds.
        clock: monotonic time source for the back-off (injectable for tests).
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "convtrack:",
        timeout: float = 0.25,
        backoff: float = 2.0,
        fallback_entries: int = 10_000,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if isinstance(client, redis.asyncio.Redis):
            raise TypeError("RedisStore needs a redis.Redis client; use AsyncRedisStore")
        super().__init__(client, prefix, timeout, backoff, fallback_entries, clock)
        self._deadline = Deadline(self._timeout, name="convtrack-redis")

    def claim(self, keys: Sequence[str]) -> StoreHit | None:
        """Return the first present key's hit and delete the key, atomically."""
        return self._lookup(keys, "claim")

    def peek(self, keys: Sequence[str]) -> StoreHit | None:
        """Return the first present key's hit, keep it, and mark it continued, atomically."""
        return self._lookup(keys, "peek")

    def put(self, key: str, value: str, ttl: float) -> None:
        """Store `value` under `key` for `ttl` seconds, as not yet continued."""
        done = self._call(self._client.set, self._prefix + key, FRESH + value, px=px(ttl))
        self._local.put(key, value, ttl, synced=done is not _SKIPPED)

    def _lookup(self, keys: Sequence[str], op: Op) -> StoreHit | None:
        if not keys:
            return None
        return self._answer(keys, op, self._call(self._eval, self._names(keys), op))

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._backoff.active():
            return _SKIPPED
        try:
            reply = self._deadline.run(fn, *args, **kwargs)
        except Exception as exc:
            self._backoff.failed(exc)
            return _SKIPPED
        self._backoff.answered()
        return reply

    def _eval(self, names: list[str], op: str) -> Any:
        if self._script_loaded:
            try:
                return self._client.evalsha(LOOKUP_SHA, len(names), *names, op)
            except NoScriptError:
                pass  # the server restarted or flushed its scripts
        reply = self._client.eval(LOOKUP_SCRIPT, len(names), *names, op)
        self._script_loaded = True
        return reply


class AsyncRedisStore(_RedisStoreBase):
    """A ``convtrack.grouping.AsyncStore`` in Redis, for ``redis.asyncio.Redis``.

    Behaves as ``RedisStore`` (same script, values, timeout, back-off, local copy
    and arguments); each command is awaited with ``asyncio.wait_for(..., timeout)``.
    Use it with ``ConversationGrouper.aresolve()``/``aremember()``.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        prefix: str = "convtrack:",
        timeout: float = 0.25,
        backoff: float = 2.0,
        fallback_entries: int = 10_000,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if isinstance(client, redis.Redis):
            raise TypeError("AsyncRedisStore needs a redis.asyncio.Redis client; use RedisStore")
        super().__init__(client, prefix, timeout, backoff, fallback_entries, clock)

    async def claim(self, keys: Sequence[str]) -> StoreHit | None:
        """Return the first present key's hit and delete the key, atomically."""
        return await self._lookup(keys, "claim")

    async def peek(self, keys: Sequence[str]) -> StoreHit | None:
        """Return the first present key's hit, keep it, and mark it continued, atomically."""
        return await self._lookup(keys, "peek")

    async def put(self, key: str, value: str, ttl: float) -> None:
        """Store `value` under `key` for `ttl` seconds, as not yet continued."""
        done = await self._call(self._client.set, self._prefix + key, FRESH + value, px=px(ttl))
        self._local.put(key, value, ttl, synced=done is not _SKIPPED)

    async def _lookup(self, keys: Sequence[str], op: Op) -> StoreHit | None:
        if not keys:
            return None
        return self._answer(keys, op, await self._call(self._eval, self._names(keys), op))

    async def _call(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        if self._backoff.active():
            return _SKIPPED
        try:
            reply = await asyncio.wait_for(fn(*args, **kwargs), self._timeout)
        except asyncio.TimeoutError:
            self._backoff.failed(DeadlineExceeded(f"no answer within {self._timeout:g}s"))
            return _SKIPPED
        except Exception as exc:
            self._backoff.failed(exc)
            return _SKIPPED
        self._backoff.answered()
        return reply

    async def _eval(self, names: list[str], op: str) -> Any:
        if self._script_loaded:
            try:
                return await self._client.evalsha(LOOKUP_SHA, len(names), *names, op)
            except NoScriptError:
                pass  # the server restarted or flushed its scripts
        reply = await self._client.eval(LOOKUP_SCRIPT, len(names), *names, op)
        self._script_loaded = True
        return reply
