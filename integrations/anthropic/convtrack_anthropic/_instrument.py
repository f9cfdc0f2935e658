"""The patches: wrapt wrappers on the Anthropic `messages` resource, installed by `instrument()`.

Why not the SDK's own hooks: its client middleware (``Anthropic(middleware=[...])``) is
set per client (a global ``instrument()`` would have to patch every constructor anyway),
runs once per HTTP attempt inside the retry loop, sees raw HTTP bodies and status codes
rather than the typed exception the caller gets, and does not see ``messages.stream()``'s
helper stream; its tracing needs OpenTelemetry. Wrapping the resource methods gives the
call's arguments, its typed result or exception, and the stream object the caller holds.
"""

from __future__ import annotations

from typing import Any

import wrapt

from convtrack.instrumentation import Instrumentor, RunHandle, Target, is_recording, report
from convtrack.instrumentation.llm import LLMCall, abegin, begin
from convtrack.instrumentation.streams import (
    AsyncStream,
    StreamState,
    Switch,
    SyncStream,
    Wrapper,
    async_wrapper,
    sync_wrapper,
)

from ._messages import MessagesEndpoint

_switch = Switch()
_endpoint = MessagesEndpoint()


def _attach(
    call: LLMCall, stream: Any, proxy: type[SyncStream | AsyncStream]
) -> StreamState | None:
    """Observe the raw event stream a `MessageStream` reads (all its helpers read it).

    The one SDK-private attribute convtrack touches: `_raw_stream`, replaced by its
    transparent proxy before the stream is first read.
    """
    try:
        raw = stream._raw_stream
        state = StreamState(call, _endpoint.accumulator())
        stream._raw_stream = proxy(raw, state)
        return state
    except Exception as exc:
        report("anthropic: observing messages.stream()", exc)
        call.run.end()
        return None


class _StreamManager(wrapt.ObjectProxy[Any]):
    """`messages.stream()`'s manager: the call starts when its `with` block is entered."""

    def __init__(self, wrapped: Any, kwargs: dict[str, Any]) -> None:
        super().__init__(wrapped)
        self._self_kwargs = kwargs
        self._self_state: StreamState | None = None

    def __enter__(self) -> Any:
        call = begin(_endpoint, self._self_kwargs, True) if _recording() else None
        if call is None:
            return self.__wrapped__.__enter__()
        token = call.run.activate()
        try:
            stream = self.__wrapped__.__enter__()
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            RunHandle.deactivate(token)
        self._self_state = _attach(call, stream, SyncStream)
        return stream

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            if self._self_state is not None:
                self._self_state.finish()


class _AsyncStreamManager(wrapt.ObjectProxy[Any]):
    """`_StreamManager` for the async client (`async with client.messages.stream(...)`)."""

    def __init__(self, wrapped: Any, kwargs: dict[str, Any]) -> None:
        super().__init__(wrapped)
        self._self_kwargs = kwargs
        self._self_state: StreamState | None = None

    async def __aenter__(self) -> Any:
        call = await abegin(_endpoint, self._self_kwargs, True) if _recording() else None
        if call is None:
            return await self.__wrapped__.__aenter__()
        token = call.run.activate()
        try:
            stream = await self.__wrapped__.__aenter__()
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            RunHandle.deactivate(token)
        self._self_state = _attach(call, stream, AsyncStream)
        return stream

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            if self._self_state is not None:
                await self._self_state.afinish()


def _recording() -> bool:
    return _switch.on and is_recording()


def _stream_helper(
    wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    manager = wrapped(*args, **kwargs)
    if not _recording():
        return manager
    if hasattr(manager, "__aenter__"):
        return _AsyncStreamManager(manager, kwargs)
    return _StreamManager(manager, kwargs)


_MESSAGES = "anthropic.resources.messages.messages"
_TARGETS: list[tuple[str, str, str, Wrapper]] = [
    (_MESSAGES, "Messages", "create", sync_wrapper(_endpoint, _switch)),
    (_MESSAGES, "Messages", "parse", sync_wrapper(_endpoint, _switch)),
    (_MESSAGES, "Messages", "stream", _stream_helper),
    (_MESSAGES, "AsyncMessages", "create", async_wrapper(_endpoint, _switch)),
    (_MESSAGES, "AsyncMessages", "parse", async_wrapper(_endpoint, _switch)),
    (_MESSAGES, "AsyncMessages", "stream", _stream_helper),
]


class AnthropicInstrumentor(Instrumentor):
    """Records every Anthropic `messages` call (sync, async, streamed or not)."""

    library = "anthropic"
    switch = _switch

    def targets(self) -> list[Target]:
        """The SDK methods wrapped."""
        return _TARGETS


_instrumentor = AnthropicInstrumentor()
instrument = _instrumentor.instrument
uninstrument = _instrumentor.uninstrument
is_instrumented = _instrumentor.is_instrumented
