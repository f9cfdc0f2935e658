"""Redis stopped or frozen under a loop of grouped chat turns: no call stalls, no chat splits."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio
from convtrack_redis import AsyncRedisStore, RedisStore
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry as SyncRetry
from redis_support import RedisServer

from convtrack.grouping import ConversationGrouper, Resolution

TIMEOUT = 0.25
SLACK = 0.15  # thread and event-loop scheduling, hashing: far below the seconds seen before
BACKOFF = 0.4
CHATS = 4
# (what happens to Redis, which client the app passes): the README's client; short
# timeouts but redis-py's default retries (3.1-6.9 s for one call before the deadline
# existed); and the plain redis.Redis() (5 s timeouts, retries: 58 s for one call frozen).
CASES = [
    ("stop", "readme"),
    ("stop", "timeouts-only"),
    ("freeze", "readme"),
    ("freeze", "plain"),
]


def client_kwargs(kind: str, retry: Any) -> dict[str, Any]:
    """The client settings of each case."""
    if kind == "plain":
        return {}
    timeouts = {"socket_connect_timeout": 0.25, "socket_timeout": 0.25}
    return timeouts if kind == "timeouts-only" else {**timeouts, "retry": retry}


class Chats:
    """Several chats, one turn each per round, recording conversations and the slowest call."""

    def __init__(self) -> None:
        self.histories: list[list[dict[str, Any]]] = [
            [{"role": "user", "content": f"chat {i}: hello"}] for i in range(CHATS)
        ]
        self.conversations: list[set[str]] = [set() for _ in range(CHATS)]
        self.slowest = 0.0
        self.turns = 0

    def timed(self, started: float) -> None:
        self.slowest = max(self.slowest, time.perf_counter() - started)

    def answered(self, chat: int, resolution: Resolution) -> list[dict[str, Any]]:
        """Record the turn's conversation; return the history to remember (request + answer)."""
        self.conversations[chat].add(resolution.conversation_id)
        self.turns += 1
        return [*self.histories[chat], {"role": "assistant", "content": f"answer {self.turns}"}]

    def next_turn(self, chat: int, remembered: list[dict[str, Any]]) -> None:
        self.histories[chat] = [*remembered, {"role": "user", "content": f"q {self.turns}"}]

    def check_whole(self) -> None:
        """Each chat is one conversation, and no grouping call waited past the budget."""
        assert [len(c) for c in self.conversations] == [1] * CHATS
        assert self.slowest <= TIMEOUT + SLACK, f"a grouping call took {self.slowest:.3f}s"


def sync_round(grouper: ConversationGrouper, chats: Chats) -> None:
    for chat in range(CHATS):
        started = time.perf_counter()
        resolution = grouper.resolve(chats.histories[chat])
        chats.timed(started)
        remembered = chats.answered(chat, resolution)
        started = time.perf_counter()
        grouper.remember(remembered, resolution.conversation_id)
        chats.timed(started)
        chats.next_turn(chat, remembered)


async def async_round(grouper: ConversationGrouper, chats: Chats) -> None:
    for chat in range(CHATS):
        started = time.perf_counter()
        resolution = await grouper.aresolve(chats.histories[chat])
        chats.timed(started)
        remembered = chats.answered(chat, resolution)
        started = time.perf_counter()
        await grouper.aremember(remembered, resolution.conversation_id)
        chats.timed(started)
        chats.next_turn(chat, remembered)


class Outage:
    """Takes Redis away (stopped, or frozen with SIGSTOP) and brings it back."""

    def __init__(self, server: RedisServer, how: str) -> None:
        self.server = server
        self.how = how

    def phases(self) -> list[tuple[float, Callable[[], None]]]:
        """(seconds of chat turns, then what to do): healthy, Redis away, Redis back."""
        return [(0.3, self.begin), (1.0, self.end), (BACKOFF + 0.8, lambda: None)]

    def rounds(self) -> Iterator[None]:
        """Yield once per round of chat turns, taking Redis away and back between phases."""
        for seconds, then in self.phases():
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                yield
            then()

    def begin(self) -> None:
        if self.how == "stop":
            self.server.stop()
        else:
            self.server.freeze()

    def end(self) -> None:
        if self.how == "stop":
            self.server.start()
        else:
            self.server.thaw()


def replica_continues(grouper: ConversationGrouper, chats: Chats) -> bool:
    """Another replica (its own client and store, the same secret) continues every chat."""
    return all(
        grouper.resolve(history).conversation_id in conversations
        for history, conversations in zip(chats.histories, chats.conversations, strict=True)
    )


@pytest.mark.parametrize(("how", "client_kind"), CASES)
def test_sync_grouping_through_a_redis_outage(
    own_redis: RedisServer, how: str, client_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis stopped/frozen mid-loop: calls within the budget, chats whole, Redis used again."""
    chats = Chats()
    kwargs = client_kwargs(client_kind, SyncRetry(NoBackoff(), 0))
    with redis.Redis(port=own_redis.port, **kwargs) as client:
        grouper = ConversationGrouper(
            RedisStore(client, timeout=TIMEOUT, backoff=BACKOFF), secret="s"
        )
        with caplog.at_level(logging.WARNING, logger="convtrack"):
            for _ in Outage(own_redis, how).rounds():
                sync_round(grouper, chats)
                time.sleep(0.02)
    assert any("a Redis call" in r.getMessage() for r in caplog.records)
    chats.check_whole()
    with redis.Redis(port=own_redis.port) as other_client:
        other = ConversationGrouper(RedisStore(other_client), secret="s")
        assert replica_continues(other, chats)


@pytest.mark.parametrize(("how", "client_kind"), CASES)
async def test_async_grouping_through_a_redis_outage(
    own_redis: RedisServer, how: str, client_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The same with AsyncRedisStore and aresolve()/aremember()."""
    chats = Chats()
    kwargs = client_kwargs(client_kind, AsyncRetry(NoBackoff(), 0))
    client = redis.asyncio.Redis(port=own_redis.port, **kwargs)
    try:
        grouper = ConversationGrouper(
            AsyncRedisStore(client, timeout=TIMEOUT, backoff=BACKOFF), secret="s"
        )
        with caplog.at_level(logging.WARNING, logger="convtrack"):
            for _ in Outage(own_redis, how).rounds():
                await async_round(grouper, chats)
                await asyncio.sleep(0.02)
    finally:
        await client.aclose()
    assert any("a Redis call" in r.getMessage() for r in caplog.records)
    chats.check_whole()
    with redis.Redis(port=own_redis.port) as other_client:
        other = ConversationGrouper(RedisStore(other_client), secret="s")
        assert replica_continues(other, chats)
