"""When Redis fails: the store never raises, groups in memory, backs off, then uses Redis again."""

from __future__ import annotations

import logging
import multiprocessing
import time
from typing import Any

import pytest
import redis
import redis.asyncio
from convtrack_redis import AsyncRedisStore, RedisStore
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis_support import CountingRedis, RedisServer, bot, user

from convtrack.grouping import ConversationGrouper, StoreHit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def chat_turns(grouper: ConversationGrouper, turns: int) -> set[str]:
    """Run a chat of `turns` turns through `grouper`; return the conversations it got."""
    history = [user("hi")]
    conversations = set()
    for turn in range(turns):
        resolution = grouper.resolve(history)
        conversations.add(resolution.conversation_id)
        history = [*history, bot(f"answer {turn}")]
        grouper.remember(history, resolution.conversation_id)
        history = [*history, user(f"question {turn}")]
    return conversations


def test_unreachable_redis_keeps_a_chat_whole_logs_and_backs_off(
    dead_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis down: the chat is one conversation, one log line, Redis retried only after backoff."""
    clock = Clock()
    with CountingRedis(port=dead_port, retry=Retry(NoBackoff(), 0)) as client:
        grouper = ConversationGrouper(RedisStore(client, backoff=3, clock=clock), secret="s")
        with caplog.at_level(logging.WARNING, logger="convtrack"):
            assert len(chat_turns(grouper, 4)) == 1
            assert client.sent == ["SET"]  # then backing off: Redis was not contacted
            clock.now = 3.0
            grouper.resolve([user("hi"), bot("hello"), user("x")])
            assert client.sent == ["SET", "EVAL"]
    (record,) = [r for r in caplog.records if r.name == "convtrack"]
    assert "a Redis call" in record.getMessage()
    assert isinstance(record.exc_info[1], redis.ConnectionError)  # type: ignore[index]


def test_the_store_itself_never_raises_on_redis_trouble(dead_port: int) -> None:
    """put/claim/peek against a dead Redis answer from the local copy instead of raising."""
    with redis.Redis(port=dead_port, retry=Retry(NoBackoff(), 0)) as client:
        store = RedisStore(client, backoff=0)
        store.put("k", "conv-1", 60)
        assert store.peek(["k"]) == StoreHit(0, "conv-1", False)
        assert store.claim(["j", "k"]) == StoreHit(1, "conv-1", False)
        assert store.claim(["k"]) is None


def test_backoff_zero_tries_redis_every_time(dead_port: int) -> None:
    """backoff=0: every call tries Redis."""
    with CountingRedis(port=dead_port, retry=Retry(NoBackoff(), 0)) as client:
        store = RedisStore(client, backoff=0)
        store.peek(["k"])
        store.put("k", "v", 1)
        assert client.sent == ["EVAL", "SET"]


def test_a_put_redis_missed_still_matches_once_redis_is_back(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A turn remembered while Redis was stopped continues its chat after Redis returns."""
    clock = Clock()
    with redis.Redis(port=own_redis.port, retry=Retry(NoBackoff(), 0)) as client:
        grouper = ConversationGrouper(RedisStore(client, backoff=1, clock=clock), secret="s")
        own_redis.stop()
        grouper.remember([user("hi"), bot("hello")], "conv-1")
        own_redis.start()
        clock.now = 1.0
        with caplog.at_level(logging.INFO, logger="convtrack"):
            resolution = grouper.resolve([user("hi"), bot("hello"), user("x")])
        assert (resolution.conversation_id, resolution.grouping) == ("conv-1", "auto-matched")
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == [
        "convtrack: grouping: Redis answers again; back to the shared store"
    ]


def test_a_key_another_replica_consumed_is_not_matched_from_the_local_copy(
    redis_client: redis.Redis,
) -> None:
    """Redis answers for entries it holds: a turn claimed elsewhere forks here too (consume)."""
    replica_a = ConversationGrouper(RedisStore(redis_client), secret="s")
    replica_b = ConversationGrouper(RedisStore(redis_client), secret="s")  # its own local copy
    replica_a.remember([user("hi"), bot("hello")], "conv-1")
    request = [user("hi"), bot("hello"), user("x")]
    assert replica_b.resolve(request).conversation_id == "conv-1"
    assert replica_a.resolve(request).grouping == "auto-new"


def test_a_slow_redis_is_cut_off_at_the_timeout(own_redis: RedisServer) -> None:
    """A frozen Redis and a client with 5 s timeouts: each call returns after about `timeout`."""
    with redis.Redis(port=own_redis.port, socket_timeout=5) as client:
        store = RedisStore(client, timeout=0.1, backoff=0)
        store.put("k", "conv-1", 60)
        own_redis.freeze()
        try:
            for _ in range(3):
                started = time.perf_counter()
                assert store.claim(["k"]) == StoreHit(0, "conv-1", False)
                assert time.perf_counter() - started < 0.1 + 0.1
                store.put("k", "conv-1", 60)
        finally:
            own_redis.thaw()


async def test_async_store_falls_back_and_backs_off(
    dead_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """AsyncRedisStore, Redis down: the local copy keeps the chat; Redis skipped in the back-off."""
    clock = Clock()
    client = redis.asyncio.Redis(port=dead_port, retry=AsyncRetry(NoBackoff(), 0))
    sent: list[str] = []
    execute = client.execute_command

    async def counted(*args: Any, **options: Any) -> Any:
        sent.append(str(args[0]).upper())
        return await execute(*args, **options)

    client.execute_command = counted  # type: ignore[method-assign]
    try:
        grouper = ConversationGrouper(AsyncRedisStore(client, backoff=1.5, clock=clock), secret="s")
        with caplog.at_level(logging.WARNING, logger="convtrack"):
            await grouper.aremember([user("hi"), bot("hello")], "conv-1")
            resolution = await grouper.aresolve([user("hi"), bot("hello"), user("x")])
            assert resolution.conversation_id == "conv-1"
            assert sent == ["SET"]
            clock.now = 1.5
            await grouper.aremember([user("hi"), bot("hello")], "conv-1")
            assert sent == ["SET", "SET"]
    finally:
        await client.aclose()
    records = [r for r in caplog.records if r.name == "convtrack"]
    assert isinstance(records[0].exc_info[1], redis.ConnectionError)  # type: ignore[index]


async def test_async_slow_redis_is_cut_off_at_the_timeout(own_redis: RedisServer) -> None:
    """A frozen Redis and an asyncio client with 5 s timeouts: each call returns in ~timeout."""
    client = redis.asyncio.Redis(port=own_redis.port, socket_timeout=5)
    try:
        store = AsyncRedisStore(client, timeout=0.1, backoff=0)
        await store.put("k", "conv-1", 60)
        own_redis.freeze()
        try:
            for _ in range(3):
                started = time.perf_counter()
                assert await store.claim(["k"]) == StoreHit(0, "conv-1", False)
                assert time.perf_counter() - started < 0.1 + 0.1
                await store.put("k", "conv-1", 60)
        finally:
            own_redis.thaw()
    finally:
        await client.aclose()


def _resolve_in_child(store: RedisStore, queue: Any) -> None:
    grouper = ConversationGrouper(store, secret="s")
    queue.put(grouper.resolve([user("hi"), bot("hello"), user("x")]).conversation_id)


def test_a_store_built_before_a_fork_works_in_the_child(redis_client: redis.Redis) -> None:
    """gunicorn --preload: a store used in the parent, then forked, still reaches Redis."""
    store = RedisStore(redis_client)
    ConversationGrouper(store, secret="s").remember([user("hi"), bot("hello")], "conv-1")
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_resolve_in_child, args=(store, queue))
    child.start()
    child.join(20)
    assert child.exitcode == 0
    assert queue.get(timeout=1) == "conv-1"
