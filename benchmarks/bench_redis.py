"""Benchmark the Redis stores: what the per-call deadline costs, and that it holds.

Run: ``python benchmarks/bench_redis.py`` (needs ``redis-server`` on the PATH; it starts
its own on a free loopback port). Prints, measured in this run:

- a lookup (the claim script, 8 keys, a miss) and a put through ``RedisStore`` /
  ``AsyncRedisStore`` (deadline, back-off check, local copy) against the same command sent
  with the bare client: the cost of never waiting past ``timeout``;
- the budget check: the server frozen with SIGSTOP, a client with redis-py's default
  settings (5 s timeouts, retries), 20 ``resolve()`` calls: the slowest call as a ratio of
  ``timeout`` (before the deadline existed, one such call took 58 s).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import redis
import redis.asyncio
from _timing import compare, report
from convtrack_redis import AsyncRedisStore, RedisStore
from convtrack_redis._common import LOOKUP_SCRIPT, LOOKUP_SHA

from convtrack.grouping import ConversationGrouper

KEYS = [f"{i:032x}" for i in range(8)]
TIMEOUT = 0.25


def start_server() -> tuple[subprocess.Popen[bytes], int]:
    """A redis-server without persistence on a free loopback port, answering PING."""
    exe = shutil.which("redis-server")
    if exe is None:
        sys.exit("bench_redis needs redis-server on the PATH")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen([exe, *args], stdout=subprocess.DEVNULL)
    with redis.Redis(port=port) as client:
        for _ in range(200):
            try:
                client.ping()
                return proc, port
            except redis.ConnectionError:
                time.sleep(0.05)
    sys.exit("redis-server did not start")


def sync_cases(port: int) -> dict[str, Callable[[int], None]]:
    client = redis.Redis(port=port)
    store = RedisStore(client, timeout=TIMEOUT)
    names = ["convtrack:" + key for key in KEYS]
    client.script_load(LOOKUP_SCRIPT)
    store.claim(KEYS)  # the script is known to the store from now on

    def bare_lookup(n: int) -> None:
        for _ in range(n):
            client.evalsha(LOOKUP_SHA, len(names), *names, "claim")

    def store_lookup(n: int) -> None:
        for _ in range(n):
            store.claim(KEYS)

    def bare_put(n: int) -> None:
        for _ in range(n):
            client.set("convtrack:" + KEYS[0], "0conv", px=60_000)

    def store_put(n: int) -> None:
        for _ in range(n):
            store.put(KEYS[0], "conv", 60)

    return {
        "bare client: EVALSHA (8 keys, miss)": bare_lookup,
        "RedisStore.claim (8 keys, miss)": store_lookup,
        "bare client: SET PX": bare_put,
        "RedisStore.put": store_put,
    }


def run_cases(title: str, cases: dict[str, Callable[[int], None]]) -> None:
    """Median per call of each case; lookups against the bare lookup, puts against SET."""
    medians = compare(cases, n=2000, rounds=9)
    names = list(medians)
    report(f"{title}: lookup", {k: medians[k] for k in names[:2]}, names[0])
    report(f"{title}: put", {k: medians[k] for k in names[2:]}, names[2])


def async_cases(port: int, loop: asyncio.AbstractEventLoop) -> dict[str, Callable[[int], None]]:
    client = redis.asyncio.Redis(port=port)
    store = AsyncRedisStore(client, timeout=TIMEOUT)
    names = ["convtrack:" + key for key in KEYS]
    loop.run_until_complete(store.claim(KEYS))

    async def bare(n: int) -> None:
        for _ in range(n):
            await client.evalsha(LOOKUP_SHA, len(names), *names, "claim")

    async def stored(n: int) -> None:
        for _ in range(n):
            await store.claim(KEYS)

    async def bare_put(n: int) -> None:
        for _ in range(n):
            await client.set("convtrack:" + KEYS[0], "0conv", px=60_000)

    async def store_put(n: int) -> None:
        for _ in range(n):
            await store.put(KEYS[0], "conv", 60)

    return {
        name: (lambda n, fn=fn: loop.run_until_complete(fn(n)))  # type: ignore[misc]
        for name, fn in {
            "bare asyncio client: EVALSHA": bare,
            "AsyncRedisStore.claim": stored,
            "bare asyncio client: SET PX": bare_put,
            "AsyncRedisStore.put": store_put,
        }.items()
    }


def frozen_budget(proc: subprocess.Popen[bytes], port: int) -> list[float]:
    """Seconds each of 20 resolve() calls took with the server frozen (default client)."""
    grouper = ConversationGrouper(RedisStore(redis.Redis(port=port), backoff=0), secret="b")
    request = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "and?"},
    ]
    grouper.resolve(request)  # connected before the freeze
    logging.getLogger("convtrack").setLevel(logging.ERROR)  # the expected timeouts
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        durations = []
        for _ in range(20):
            started = time.perf_counter()
            grouper.resolve(request)
            durations.append(time.perf_counter() - started)
        return durations
    finally:
        os.kill(proc.pid, signal.SIGCONT)


def main() -> None:
    """Run the measurements and print them."""
    proc, port = start_server()
    try:
        print(f"python {sys.version.split()[0]}; redis-py {redis.__version__}")
        run_cases("sync, live redis-server on loopback", sync_cases(port))
        loop = asyncio.new_event_loop()
        try:
            run_cases("async, same server", async_cases(port, loop))
        finally:
            loop.close()
        durations = frozen_budget(proc, port)
        print(
            f"\nfrozen server (SIGSTOP), redis.Redis() defaults, timeout={TIMEOUT}s, 20 calls: "
            f"slowest {max(durations):.3f}s = {max(durations) / TIMEOUT:.2f}x timeout, "
            f"median {sorted(durations)[10]:.3f}s"
        )
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
