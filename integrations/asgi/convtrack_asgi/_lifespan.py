"""The lifespan shutdown waits (bounded) until the runs recorded reach the sinks."""

from __future__ import annotations

import asyncio

import convtrack
from convtrack.instrumentation import is_recording, report

from ._http import Message, Send

# How long the lifespan shutdown waits for the runs to reach the sinks (seconds).
SHUTDOWN_FLUSH_TIMEOUT = 5.0
_SHUTDOWN_DONE = frozenset({"lifespan.shutdown.complete", "lifespan.shutdown.failed"})


def flushing_at_shutdown(send: Send) -> Send:
    """`send` for a lifespan scope: before the app's shutdown is reported to the server,
    the runs waiting are flushed, off the event loop and bounded by a timeout."""

    async def send_flushing(message: Message) -> None:
        if message["type"] in _SHUTDOWN_DONE and is_recording():
            try:
                await asyncio.get_running_loop().run_in_executor(
                    None, convtrack.flush, SHUTDOWN_FLUSH_TIMEOUT
                )
            except Exception as exc:
                report("asgi (flushing at lifespan shutdown)", exc)
        await send(message)

    return send_flushing
