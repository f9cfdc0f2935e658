"""A real redis-server for the convtrack-redis tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio
from redis_support import RedisServer, free_port, redis_exe


@pytest.fixture(scope="session")
def redis_port() -> Iterator[int]:
    """Start a redis-server shared by the session's tests; stop it at the end."""
    server = RedisServer(redis_exe(), free_port())
    server.start()
    try:
        yield server.port
    finally:
        server.stop()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own, which it may stop, restart or freeze."""
    server = RedisServer(redis_exe(), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_client(redis_port: int) -> Iterator[redis.Redis]:
    """A client to an emptied server."""
    with redis.Redis(port=redis_port) as client:
        client.flushall()
        yield client


@pytest.fixture
async def async_redis_client(redis_port: int) -> AsyncIterator[redis.asyncio.Redis]:
    """An asyncio client to an emptied server."""
    client = redis.asyncio.Redis(port=redis_port)
    await client.flushall()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def dead_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()
