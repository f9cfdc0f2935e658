"""A Redis store is shared between processes: its grouper needs a common secret."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import redis
import redis.asyncio
from convtrack_redis import AsyncRedisStore, RedisStore

from convtrack.grouping import ConversationGrouper

ENV = "CONVTRACK_GROUPING_SECRET"
# One replica's turn: resolve the request in argv[2], remember it with an answer, print the id.
REPLICA = """\
import json, sys
import redis
from convtrack.grouping import ConversationGrouper
from convtrack_redis import RedisStore

with redis.Redis(port=int(sys.argv[1])) as client:
    grouper = ConversationGrouper(RedisStore(client))
    request = json.loads(sys.argv[2])
    resolution = grouper.resolve(request)
    grouper.remember([*request, {"role": "assistant", "content": "ok"}], resolution.conversation_id)
    print(resolution.conversation_id, resolution.grouping)
"""


def test_redis_stores_say_they_are_shared() -> None:
    """RedisStore and AsyncRedisStore have shared = True."""
    assert RedisStore.shared is True
    assert AsyncRedisStore.shared is True


async def test_a_grouper_over_redis_without_a_secret_is_refused(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No secret= and no env var: ValueError at construction, for both stores."""
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(ValueError, match=ENV):
        ConversationGrouper(RedisStore(redis_client))
    client = redis.asyncio.Redis()
    try:
        with pytest.raises(ValueError, match="secret="):
            ConversationGrouper(AsyncRedisStore(client))
    finally:
        await client.aclose()


def test_two_processes_with_the_env_secret_continue_one_chat(
    redis_port: int, redis_client: redis.Redis
) -> None:
    """Two real processes given only CONVTRACK_GROUPING_SECRET keep one chat in one conversation."""
    env = {**os.environ, ENV: "shared between replicas"}

    def turn(request: str) -> list[str]:
        out = subprocess.run(
            [sys.executable, "-c", REPLICA, str(redis_port), request],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return out.stdout.split()

    first = turn('[{"role": "user", "content": "hi"}]')
    second = turn(
        '[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"},'
        ' {"role": "user", "content": "and then?"}]'
    )
    assert first[1] == "auto-new"
    assert second == [first[0], "auto-matched"]
