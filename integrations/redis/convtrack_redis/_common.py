"""What the sync and async Redis stores share: the lookup script, values, back-off."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from convtrack.grouping import StoreHit

# KEYS: the prefixed keys, longest history first. ARGV[1]: "claim" or "peek".
# Values are "0" + conversation id (not yet continued) or "1" + id (continued).
# Returns {index (0-based), value} for the first key present, or nil. A claim
# deletes the key; a peek marks it continued, keeping its TTL (Redis >= 6).
LOOKUP_SCRIPT = """\
local peek = ARGV[1] == 'peek'
for i = 1, #KEYS do
  local value = redis.call('GET', KEYS[i])
  if value then
    if not peek then
      redis.call('DEL', KEYS[i])
    elseif string.sub(value, 1, 1) == '0' then
      redis.call('SET', KEYS[i], '1' .. string.sub(value, 2), 'KEEPTTL')
    end
    return {i - 1, value}
  end
end
return false
"""
LOOKUP_SHA = hashlib.sha1(LOOKUP_SCRIPT.encode()).hexdigest()
FRESH = "0"
SEEN = "1"
# Errors after which Redis is skipped for `backoff` seconds: it is not reachable.
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class RedisUnavailableError(RedisConnectionError):
    """Raised without contacting Redis while the store backs off after a connection error."""


class Backoff:
    """Skip Redis for `seconds` after a connection error (0 disables)."""

    __slots__ = ("_clock", "_seconds", "_until")

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise TypeError(f"backoff must be a number of seconds, got {type(seconds).__name__}")
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"backoff must be a finite number >= 0, got {seconds!r}")
        self._seconds = float(seconds)
        self._clock = clock
        self._until = -math.inf

    @property
    def seconds(self) -> float:
        """The back-off duration in seconds."""
        return self._seconds

    def check(self) -> None:
        """Raise RedisUnavailableError while backing off."""
        if self._until > -math.inf and self._clock() < self._until:
            raise RedisUnavailableError(
                f"Redis was unreachable less than {self._seconds:g}s ago; not retrying yet"
            )

    def failed(self) -> None:
        """Record a connection error: back off from now."""
        self._until = self._clock() + self._seconds


def check_prefix(prefix: object) -> str:
    """Validate the key prefix."""
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
    return prefix


def px(ttl: float) -> int:
    """A TTL in seconds as Redis milliseconds (at least 1)."""
    return max(1, math.ceil(ttl * 1000))


def parse_reply(reply: Any, *, peek: bool) -> StoreHit | None:
    """Turn the script's reply into a StoreHit."""
    if reply is None:
        return None
    position, raw = reply
    value = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
    return StoreHit(int(position), value[1:], peek and value[:1] == SEEN)
