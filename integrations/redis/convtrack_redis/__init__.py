"""Redis stores for convtrack's automatic conversation grouping.

``RedisStore`` (``redis.Redis``) and ``AsyncRedisStore`` (``redis.asyncio.Redis``)
let every replica of an app continue each other's conversations::

    import redis
    from convtrack.grouping import ConversationGrouper
    from convtrack_redis import RedisStore

    grouper = ConversationGrouper(RedisStore(redis.Redis()), secret=SHARED_SECRET)
"""

from __future__ import annotations

from convtrack.instrumentation import missing_dependency as _missing_dependency

try:
    import redis  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a test with redis hidden
    raise _missing_dependency("convtrack_redis", "redis", "convtrack-redis") from exc

from convtrack_redis._common import RedisUnavailableError
from convtrack_redis._store import AsyncRedisStore, RedisStore

__version__ = "0.1.0"

__all__ = ["AsyncRedisStore", "RedisStore", "RedisUnavailableError"]
