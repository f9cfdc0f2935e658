"""RedisStore against a real redis-server: semantics, replicas, atomicity, round trips, failure."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.asyncio
from convtrack_redis import AsyncRedisStore, RedisStore
from redis_support import CountingRedis, bot, user

from convtrack.grouping import ConversationGrouper, Resolution, StoreHit


@pytest.fixture
def counting_client(redis_port: int, redis_client: redis.Redis) -> Iterator[CountingRedis]:
    with CountingRedis(port=redis_port) as client:
        yield client


def commandstats(client: redis.Redis, name: str) -> int:
    stats: dict[str, Any] = client.info("commandstats")
    return int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))


@pytest.mark.parametrize("decode", [False, True])
def test_claim_peek_and_put_follow_the_store_contract(
    redis_port: int, decode: bool, redis_client: redis.Redis
) -> None:
    """claim deletes the first present key; peek keeps it and marks it; put stores it fresh."""
    with redis.Redis(port=redis_port, decode_responses=decode) as client:
        store = RedisStore(client)
        store.put("k2", "conv-2", 60)
        store.put("k3", "conv-3", 60)
        assert store.peek(["k1", "k2", "k3"]) == StoreHit(1, "conv-2", False)
        assert store.peek(["k2"]) == StoreHit(0, "conv-2", True)
        assert store.claim(["k1", "k2", "k3"]) == StoreHit(1, "conv-2", False)
        assert store.claim(["k1", "k2", "k3"]) == StoreHit(2, "conv-3", False)
        assert store.claim(["k1", "k2", "k3"]) is None
        assert store.claim([]) is None


def test_keys_and_values_in_redis_are_prefixed_digests_with_a_ttl(
    redis_client: redis.Redis,
) -> None:
    """Redis holds prefix + 32 hex chars -> "0"+conversation id ("1" once continued), with a TTL."""
    grouper = ConversationGrouper(
        RedisStore(redis_client, prefix="app:"), ttl=120, secret="s", mode="peek"
    )
    grouper.remember([user("my card number"), bot("noted")], "conv-1")
    (key,) = redis_client.keys("*")
    assert key.startswith(b"app:")
    assert len(key) == 4 + 32
    int(key[4:], 16)
    assert redis_client.get(key) == b"0conv-1"
    assert 119_000 < redis_client.pttl(key) <= 120_000
    grouper.resolve([user("my card number"), bot("noted"), user("x")])
    assert redis_client.get(key) == b"1conv-1"
    assert 0 < redis_client.pttl(key) <= 120_000


def test_three_turn_chat_is_one_conversation_over_redis(redis_client: redis.Redis) -> None:
    """The three-turn flow groups into one conversation with a RedisStore."""
    grouper = ConversationGrouper(RedisStore(redis_client), secret="s")
    history = [user("My order 881 has not arrived.")]
    first = grouper.resolve(history)
    conversation = first.conversation_id
    for turn in range(3):
        answer = bot(f"answer {turn}")
        grouper.remember([*history, answer], conversation)
        history += [answer, user(f"question {turn}")]
        resolution = grouper.resolve(history)
        assert resolution == Resolution(conversation, "auto-matched", None, len(history) - 1)


def test_peek_mode_over_redis_marks_a_regenerated_turn(redis_client: redis.Redis) -> None:
    """Peek mode: the retried turn stays in its conversation with branch_of set."""
    grouper = ConversationGrouper(RedisStore(redis_client), secret="s", mode="peek")
    grouper.remember([user("hi"), bot("hello")], "conv-1")
    request = [user("hi"), bot("hello"), user("joke?")]
    assert grouper.resolve(request).branch_of is None
    assert grouper.resolve(request) == Resolution("conv-1", "auto-matched", "conv-1", 2)


def test_redis_ttl_expires_remembered_histories(redis_client: redis.Redis) -> None:
    """With a 0.2 s TTL, a history is matchable at once and gone after 0.3 s."""
    grouper = ConversationGrouper(RedisStore(redis_client), ttl=0.2, secret="s", mode="peek")
    grouper.remember([user("hi"), bot("hello")], "conv-1")
    request = [user("hi"), bot("hello"), user("x")]
    assert grouper.resolve(request).conversation_id == "conv-1"
    time.sleep(0.3)
    assert grouper.resolve(request).grouping == "auto-new"


def test_replicas_sharing_redis_and_secret_continue_each_others_conversations(
    redis_port: int, redis_client: redis.Redis
) -> None:
    """Two groupers with their own clients, one Redis and one secret act as one."""
    with redis.Redis(port=redis_port) as client_a, redis.Redis(port=redis_port) as client_b:
        replica_a = ConversationGrouper(RedisStore(client_a), secret="shared")
        replica_b = ConversationGrouper(RedisStore(client_b), secret="shared")
        stranger = ConversationGrouper(RedisStore(client_b), secret="other")
        history = [user("hi")]
        conversation = replica_a.resolve(history).conversation_id
        for turn, (now, then) in enumerate([(replica_a, replica_b), (replica_b, replica_a)] * 2):
            answer = bot(f"answer {turn}")
            now.remember([*history, answer], conversation)
            history += [answer, user(f"question {turn}")]
            assert stranger.resolve(history).grouping == "auto-new"
            assert then.resolve(history).conversation_id == conversation


def test_sixteen_threads_claiming_one_prefix_exactly_one_wins(redis_client: redis.Redis) -> None:
    """Concurrent resolves of one continuation through Redis: exactly one matches."""
    grouper = ConversationGrouper(RedisStore(redis_client), secret="s")
    grouper.remember([user("hi"), bot("hello")], "conv-1")
    request = [user("hi"), bot("hello"), user("x")]
    barrier = threading.Barrier(16)
    results: list[Resolution] = []

    def worker() -> None:
        barrier.wait()
        results.append(grouper.resolve(request))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 16
    assert [r.conversation_id for r in results if r.grouping == "auto-matched"] == ["conv-1"]


def test_a_lookup_is_one_round_trip_even_for_fifty_assistant_messages(
    counting_client: CountingRedis, redis_client: redis.Redis
) -> None:
    """Resolving a 50-assistant-message history sends one command (EVAL, then EVALSHA)."""
    grouper = ConversationGrouper(RedisStore(counting_client), secret="s")
    history = [m for i in range(50) for m in (user(f"q{i}"), bot(f"a{i}"))]
    request = [*history, user("next")]
    assert grouper.resolve(request).grouping == "auto-new"
    assert counting_client.sent == ["EVAL"]
    before = commandstats(redis_client, "evalsha")
    grouper.remember(history[:2], "conv-1")  # the shortest prefix: 50 keys are tried
    counting_client.sent.clear()
    assert grouper.resolve(request) == Resolution("conv-1", "auto-matched", None, 2)
    assert counting_client.sent == ["EVALSHA"]
    assert commandstats(redis_client, "evalsha") == before + 1


def test_a_put_is_one_round_trip(counting_client: CountingRedis, redis_client: redis.Redis) -> None:
    """remember() sends one SET (with PX)."""
    grouper = ConversationGrouper(RedisStore(counting_client), secret="s")
    before = commandstats(redis_client, "set")
    grouper.remember([m for i in range(50) for m in (user(f"q{i}"), bot(f"a{i}"))], "conv-1")
    assert counting_client.sent == ["SET"]
    assert commandstats(redis_client, "set") == before + 1


def test_a_flushed_script_cache_costs_one_extra_round_trip(
    counting_client: CountingRedis, redis_client: redis.Redis
) -> None:
    """After SCRIPT FLUSH, a lookup gets NOSCRIPT and falls back to EVAL, and still works."""
    store = RedisStore(counting_client)
    store.put("k", "conv", 60)
    assert store.peek(["k"]) == StoreHit(0, "conv", False)
    redis_client.script_flush()
    counting_client.sent.clear()
    assert store.claim(["k"]) == StoreHit(0, "conv", False)
    assert counting_client.sent == ["EVALSHA", "EVAL"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"prefix": 1}, TypeError, "prefix must be a str"),
        ({"backoff": -1}, ValueError, "backoff must be a finite number >= 0"),
        ({"backoff": "1"}, TypeError, "backoff must be a number"),
        ({"timeout": 0}, ValueError, "timeout must be a finite number > 0"),
        ({"timeout": float("nan")}, ValueError, "timeout must be a finite number > 0"),
        ({"timeout": None}, TypeError, "timeout must be a number"),
        ({"fallback_entries": 0}, ValueError, "fallback_entries must be at least 1"),
        ({"fallback_entries": 1.5}, TypeError, "fallback_entries must be an int"),
    ],
)
def test_invalid_arguments_are_rejected(
    redis_client: redis.Redis, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    """Bad prefix, timeout, backoff or fallback size values raise clear errors."""
    with pytest.raises(error, match=match):
        RedisStore(redis_client, **kwargs)


async def test_clients_of_the_wrong_flavour_are_rejected(redis_client: redis.Redis) -> None:
    """RedisStore needs a sync client, AsyncRedisStore an asyncio one."""
    async_client = redis.asyncio.Redis()
    try:
        with pytest.raises(TypeError, match="use AsyncRedisStore"):
            RedisStore(async_client)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="use RedisStore"):
            AsyncRedisStore(redis_client)  # type: ignore[arg-type]
    finally:
        await async_client.aclose()


def test_missing_redis_package_says_how_to_fix_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without redis installed, importing convtrack_redis names the package to install."""
    for name in [
        n
        for n in sys.modules
        if n == "convtrack_redis" or n.startswith(("convtrack_redis.", "redis"))
    ]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ImportError, match="pip install convtrack-redis"):
        import convtrack_redis  # noqa: F401
