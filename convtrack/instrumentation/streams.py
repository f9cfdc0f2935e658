"""Streams of LLM calls: the SDK's stream object, unchanged, with its items observed.

`sync_wrapper(endpoint, switch)` / `async_wrapper(...)` are wrapt wrappers for an SDK
method: they record the call, and a streamed result comes back as a `SyncStream` /
`AsyncStream` proxy that ends the run once, when the stream is exhausted, fails, is closed
or is garbage-collected. A helper's stream manager records through `StreamState` and the
`collecting` context variable. `Switch` turns every wrapper of an integration off at once.
"""

from __future__ import annotations

from .._llm.stream import AsyncStream, StreamState, SyncStream, Wrapper, collecting, observe
from .._llm.wrappers import Switch, async_wrapper, sync_wrapper

__all__ = [
    "AsyncStream",
    "StreamState",
    "Switch",
    "SyncStream",
    "Wrapper",
    "async_wrapper",
    "collecting",
    "observe",
    "sync_wrapper",
]
