"""A real redis-server for the convtrack-redis tests."""

from __future__ import annotations

import os
import shutil
import signal
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


class RedisServer:
    """A redis-server on a loopback port, no persistence; tests may stop, restart, freeze it."""

    def __init__(self, exe: str, port: int) -> None:
        self.exe = exe
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(
            [self.exe, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with redis.Redis(port=self.port, socket_connect_timeout=0.5) as client:
            deadline = time.monotonic() + 15
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"redis-server did not start on port {self.port}")
                    time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (its data is lost: nothing is persisted)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        os.kill(proc.pid, signal.SIGCONT)  # a frozen server cannot act on SIGTERM
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def freeze(self) -> None:
        """Suspend the server (SIGSTOP): connections stay open, nothing is answered."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """Resume a frozen server (SIGCONT)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)


def redis_exe() -> str:
    """The redis-server executable (the test is skipped without one, or fails on CI)."""
    exe = shutil.which("redis-server")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        pytest.skip("redis-server is not installed")
    return exe


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
