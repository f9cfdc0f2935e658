"""The conversation crosses await, tasks, to_thread, and (with help) threads and pools."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import convtrack as ct


async def test_2000_concurrent_tasks_no_cross_talk() -> None:
    """2000 tasks, each in its own conversation, never see another's id."""

    async def handle(i: int) -> bool:
        with ct.conversation(f"c-{i}", user_id=f"u-{i}"):
            for _ in range(3):
                await asyncio.sleep(0)
                if (ct.get_conversation_id(), ct.get_user_id()) != (f"c-{i}", f"u-{i}"):
                    return False
            inner = await asyncio.create_task(_read())
            return inner == f"c-{i}"

    results = await asyncio.gather(*(handle(i) for i in range(2000)))
    assert all(results)


async def _read() -> str | None:
    await asyncio.sleep(0)
    return ct.get_conversation_id()


async def test_gather_create_task_to_thread() -> None:
    """create_task, gather and to_thread see the conversation of their creator."""
    with ct.conversation("async-c"):
        assert await asyncio.create_task(_read()) == "async-c"
        assert await asyncio.gather(_read(), _read()) == ["async-c", "async-c"]
        assert await asyncio.to_thread(ct.get_conversation_id) == "async-c"


def test_plain_thread_does_not_inherit_by_default() -> None:
    """Without propagate() or the threading instrumentation a thread starts empty."""
    seen: list[str | None] = []
    with ct.conversation("t"):
        thread = threading.Thread(target=lambda: seen.append(ct.get_conversation_id()))
        thread.start()
        thread.join()
    assert seen == [None]


def test_propagate_into_pool() -> None:
    """propagate(fn) carries the conversation into a ThreadPoolExecutor, call after call."""
    with ct.conversation("pool", user_id="u"):
        work = ct.propagate(lambda i: (i, ct.get_conversation_id(), ct.get_user_id()))
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, range(50)))
    assert results == [(i, "pool", "u") for i in range(50)]


def test_propagate_isolates_each_call() -> None:
    """Each call of a propagated function starts from the captured context."""
    with ct.conversation("base"):

        def change() -> str | None:
            ct.set_conversation_id("changed")
            return ct.get_conversation_id()

        wrapped = ct.propagate(change)
    assert wrapped() == "changed"
    assert ct.propagate(ct.get_conversation_id)() is None
    with ct.conversation("base"):
        again = ct.propagate(ct.get_conversation_id)
    assert again() == "base"


def test_threading_instrumentation() -> None:
    """instrument_threading() carries the context into threads and pools; uninstrument stops it."""
    ct.instrument_threading()
    ct.instrument_threading()  # twice is safe
    seen: list[str | None] = []
    with ct.conversation("threaded"):
        thread = threading.Thread(target=lambda: seen.append(ct.get_conversation_id()))
        thread.start()
        thread.join()
        with ThreadPoolExecutor(2) as pool:
            seen.append(pool.submit(ct.get_conversation_id).result())
    assert seen == ["threaded", "threaded"]
    ct.uninstrument_threading()
    ct.uninstrument_threading()
    with ct.conversation("threaded"):
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(ct.get_conversation_id).result() is None
        thread = threading.Thread(target=lambda: seen.append(ct.get_conversation_id()))
        thread.start()
        thread.join()
    assert seen[-1] is None
