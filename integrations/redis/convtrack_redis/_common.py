"""What the sync and async Redis stores share: the lookup script, values, back-off."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from convtrack.grouping import StoreHit
from convtrack.instrumentation import report

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
# The place named in the log line when Redis fails (`report()` rate-limits by it).
REDIS_TROUBLE = "grouping: a Redis call (this process groups on its own meanwhile)"
_logger = logging.getLogger("convtrack")


class Backoff:
    """After a failure, Redis is skipped for `seconds` (0: never skipped)."""

    __slots__ = ("_clock", "_down", "_seconds", "_until")

    def __init__(self, seconds: float, clock: Callable[[], float] | None = None) -> None:
        self._seconds = check_seconds("backoff", seconds, zero=True)
        self._clock = time.monotonic if clock is None else clock
        self._until = -math.inf
        self._down = False

    @property
    def seconds(self) -> float:
        """The back-off duration in seconds."""
        return self._seconds

    def active(self) -> bool:
        """Whether Redis is being skipped right now."""
        return self._down and self._clock() < self._until

    def failed(self, exc: BaseException) -> None:
        """Record a failed call: log it (rate-limited) and skip Redis from now on for a while."""
        self._until = self._clock() + self._seconds
        self._down = True
        report(REDIS_TROUBLE, exc)

    def answered(self) -> None:
        """Record an answer from Redis (logged once after failures)."""
        if self._down:
            self._down = False
            _logger.info("convtrack: grouping: Redis answers again; back to the shared store")


def check_seconds(name: str, value: object, *, zero: bool = False) -> float:
    """Validate a duration in seconds: finite and positive (or zero, when allowed)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    if not (math.isfinite(value) and (value >= 0 if zero else value > 0)):
        bound = ">= 0" if zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)


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
