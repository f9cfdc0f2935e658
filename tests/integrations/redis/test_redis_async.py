"""AsyncRedisStore against a real redis-server, through aresolve()/aremember()."""

from __future__ import annotations

import asyncio
from typing import Any

import redis
import redis.asyncio
from convtrack_redis import AsyncRedisStore
from redis_support import bot, user

from convtrack.grouping import ConversationGrouper, Resolution, StoreHit


class CountingAsyncRedis(redis.asyncio.Redis):
    """A redis.asyncio.Redis that records each command it sends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[str] = []

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append(str(args[0]).upper())
        return await super().execute_command(*args, **options)


async def test_async_store_follows_the_store_contract(
    async_redis_client: redis.asyncio.Redis,
) -> None:
    """claim deletes the first present key; peek keeps it and marks it; put stores it fresh."""
    store = AsyncRedisStore(async_redis_client)
    await store.put("k2", "conv-2", 60)
    assert await store.peek(["k1", "k2"]) == StoreHit(1, "conv-2", False)
    assert await store.peek(["k2"]) == StoreHit(0, "conv-2", True)
    assert await store.claim(["k1", "k2"]) == StoreHit(1, "conv-2", False)
    assert await store.claim(["k1", "k2"]) is None
    assert await store.claim([]) is None


async def test_three_turn_chat_is_one_conversation_with_the_async_api(
    async_redis_client: redis.asyncio.Redis,
) -> None:
    """aresolve()/aremember() over AsyncRedisStore group three turns into one conversation."""
    grouper = ConversationGrouper(AsyncRedisStore(async_redis_client), secret="s")
    history = [user("hello")]
    conversation = (await grouper.aresolve(history)).conversation_id
    for turn in range(3):
        answer = bot(f"answer {turn}")
        await grouper.aremember([*history, answer], conversation)
        history += [answer, user(f"question {turn}")]
        assert await grouper.aresolve(history) == Resolution(
            conversation, "auto-matched", None, len(history) - 1
        )


async def test_async_peek_mode_marks_a_regenerated_turn(
    async_redis_client: redis.asyncio.Redis,
) -> None:
    """Peek mode over AsyncRedisStore: the repeated turn stays and gets branch_of."""
    grouper = ConversationGrouper(AsyncRedisStore(async_redis_client), secret="s", mode="peek")
    await grouper.aremember([user("hi"), bot("hello")], "conv-1")
    request = [user("hi"), bot("hello"), user("x")]
    assert (await grouper.aresolve(request)).branch_of is None
    assert (await grouper.aresolve(request)).branch_of == "conv-1"


async def test_async_ttl_expires_remembered_histories(
    async_redis_client: redis.asyncio.Redis,
) -> None:
    """With a 0.2 s TTL, a history is gone after 0.3 s."""
    grouper = ConversationGrouper(
        AsyncRedisStore(async_redis_client), ttl=0.2, secret="s", mode="peek"
    )
    await grouper.aremember([user("hi"), bot("hello")], "conv-1")
    request = [user("hi"), bot("hello"), user("x")]
    assert (await grouper.aresolve(request)).conversation_id == "conv-1"
    await asyncio.sleep(0.3)
    assert (await grouper.aresolve(request)).grouping == "auto-new"


async def test_sixteen_concurrent_tasks_claiming_one_prefix_exactly_one_wins(
    redis_port: int, async_redis_client: redis.asyncio.Redis
) -> None:
    """Concurrent aresolve() calls on separate connections: exactly one matches."""
    grouper = ConversationGrouper(AsyncRedisStore(async_redis_client), secret="s")
    await grouper.aremember([user("hi"), bot("hello")], "conv-1")
    results = await asyncio.gather(
        *(grouper.aresolve([user("hi"), bot("hello"), user("x")]) for _ in range(16))
    )
    assert [r.conversation_id for r in results if r.grouping == "auto-matched"] == ["conv-1"]


async def test_async_lookup_and_put_are_one_round_trip_each(
    redis_port: int, async_redis_client: redis.asyncio.Redis
) -> None:
    """A lookup over 50 prefixes is one EVAL/EVALSHA; a put is one SET."""
    client = CountingAsyncRedis(port=redis_port)
    try:
        grouper = ConversationGrouper(AsyncRedisStore(client), secret="s")
        history = [m for i in range(50) for m in (user(f"q{i}"), bot(f"a{i}"))]
        await grouper.aremember(history[:2], "conv-1")
        assert client.sent == ["SET"]
        resolution = await grouper.aresolve([*history, user("next")])
        assert (resolution.conversation_id, resolution.matched_length) == ("conv-1", 2)
        assert client.sent == ["SET", "EVAL"]
        await grouper.aresolve([*history, user("next")])
        assert client.sent == ["SET", "EVAL", "EVALSHA"]
    finally:
        await client.aclose()
