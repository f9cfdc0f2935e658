"""The conversation follows asyncio tasks by itself, and threads with propagate().

Run: `.venv/bin/python examples/threads_and_tasks.py` (offline, prints what each worker saw).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import convtrack as ct


def blocking_work(item: int) -> str:
    return f"item {item} in {ct.get_conversation_id()}"


async def handle(conversation_id: str) -> list[str]:
    async with ct.conversation(conversation_id):
        in_task = await asyncio.create_task(asyncio.to_thread(blocking_work, 0))
        with ThreadPoolExecutor(2) as pool:  # plain pools need propagate()
            in_pool = list(pool.map(ct.propagate(blocking_work), [1, 2]))
        return [in_task, *in_pool]


async def main() -> None:
    results = await asyncio.gather(handle("chat-a"), handle("chat-b"))
    for lines in results:
        for line in lines:
            print(line)


if __name__ == "__main__":
    asyncio.run(main())
