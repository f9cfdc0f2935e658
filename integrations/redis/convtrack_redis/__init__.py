"""Redis stores for convtrack's automatic conversation grouping.

``RedisStore`` (``redis.Redis``) and ``AsyncRedisStore`` (``redis.asyncio.Redis``)
let every replica of an app continue each other's conversations. No store call
waits for Redis longer than its ``timeout`` (0.25 s); while Redis is away, each
process groups on its own and then goes back to Redis::

    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    from convtrack.grouping import ConversationGrouper
    from convtrack_redis import RedisStore

    client = redis.Redis(socket_connect_timeout=0.25, socket_timeout=0.25,
                         retry=Retry(NoBackoff(), 0))
    grouper = ConversationGrouper(RedisStore(client))  # secret: $CONVTRACK_GROUPING_SECRET
"""

from __future__ import annotations

from convtrack.instrumentation import missing_dependency as _missing_dependency

try:
    import redis  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a test with redis hidden
    raise _missing_dependency("convtrack_redis", "redis", "convtrack-redis") from exc

from convtrack_redis._store import AsyncRedisStore, RedisStore

__version__ = "0.1.0"

__all__ = ["AsyncRedisStore", "RedisStore"]
