"""The patches: wrapt wrappers on the OpenAI resource methods, installed by `instrument()`."""

from __future__ import annotations

from typing import Any

import wrapt

from convtrack.instrumentation import Instrumentor, Target, is_recording
from convtrack.instrumentation.streams import (
    StreamState,
    Switch,
    Wrapper,
    async_wrapper,
    collecting,
    sync_wrapper,
)

from ._chat import ChatEndpoint
from ._responses import ResponsesEndpoint

_switch = Switch()


class _StreamManager(wrapt.ObjectProxy[Any]):
    """`.stream()`'s manager: leaving its `with` block ends the run of the stream it opened.

    (The helper's own stream reads the raw stream `create()` returned, which is observed;
    but its `close()` closes the HTTP response directly, which no proxy would see.)
    """

    def __init__(self, wrapped: Any) -> None:
        super().__init__(wrapped)
        self._self_states: list[StreamState] = []

    def __enter__(self) -> Any:
        token = collecting.set(self._self_states)
        try:
            return self.__wrapped__.__enter__()
        finally:
            collecting.reset(token)

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            for state in self._self_states:
                state.finish()


class _AsyncStreamManager(wrapt.ObjectProxy[Any]):
    """`_StreamManager` for the async client's `.stream()` (`async with`)."""

    def __init__(self, wrapped: Any) -> None:
        super().__init__(wrapped)
        self._self_states: list[StreamState] = []

    async def __aenter__(self) -> Any:
        token = collecting.set(self._self_states)
        try:
            return await self.__wrapped__.__aenter__()
        finally:
            collecting.reset(token)

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            for state in self._self_states:
                await state.afinish()


def _stream_helper(
    wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    manager = wrapped(*args, **kwargs)
    if not _switch.on or not is_recording():
        return manager
    if hasattr(manager, "__aenter__"):
        return _AsyncStreamManager(manager)
    return _StreamManager(manager)


_CHAT = "openai.resources.chat.completions.completions"
_RESPONSES = "openai.resources.responses.responses"
_chat, _responses = ChatEndpoint(), ResponsesEndpoint()
_TARGETS: list[tuple[str, str, str, Wrapper]] = [
    (_CHAT, "Completions", "create", sync_wrapper(_chat, _switch)),
    (_CHAT, "Completions", "parse", sync_wrapper(_chat, _switch)),
    (_CHAT, "Completions", "stream", _stream_helper),
    (_CHAT, "AsyncCompletions", "create", async_wrapper(_chat, _switch)),
    (_CHAT, "AsyncCompletions", "parse", async_wrapper(_chat, _switch)),
    (_CHAT, "AsyncCompletions", "stream", _stream_helper),
    (_RESPONSES, "Responses", "create", sync_wrapper(_responses, _switch)),
    (_RESPONSES, "Responses", "parse", sync_wrapper(_responses, _switch)),
    (_RESPONSES, "Responses", "stream", _stream_helper),
    (_RESPONSES, "AsyncResponses", "create", async_wrapper(_responses, _switch)),
    (_RESPONSES, "AsyncResponses", "parse", async_wrapper(_responses, _switch)),
    (_RESPONSES, "AsyncResponses", "stream", _stream_helper),
]


class OpenAIInstrumentor(Instrumentor):
    """Records every OpenAI chat completion and response call (sync, async, streamed or not)."""

    library = "openai"
    switch = _switch

    def targets(self) -> list[Target]:
        """The SDK methods wrapped."""
        return _TARGETS


_instrumentor = OpenAIInstrumentor()
instrument = _instrumentor.instrument
uninstrument = _instrumentor.uninstrument
is_instrumented = _instrumentor.is_instrumented
