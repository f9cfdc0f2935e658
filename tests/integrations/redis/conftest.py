"""A real redis-server for the convtrack-redis tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def redis_port() -> Iterator[int]:
    """Start redis-server on a free loopback port (no persistence); stop it at the end."""
    exe = shutil.which("redis-server")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        pytest.skip("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with redis.Redis(port=port, socket_connect_timeout=0.5) as client:
            deadline = time.monotonic() + 15
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"redis-server did not start on port {port}")
                    time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
