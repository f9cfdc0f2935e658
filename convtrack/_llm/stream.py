"""Stream proxies: the SDK's stream object, unchanged, with its items observed on the way.

A proxy (wrapt ``ObjectProxy``) forwards every attribute to the SDK's stream and
overrides only iteration, the context-manager methods and ``close()``. The call's run
ends once, when the stream is exhausted, fails, is closed, or is garbage-collected,
with the answer assembled from the items seen so far. A helper's stream (e.g. the SDK's
``MessageStream``) that reads a proxied raw stream is observed the same way, whichever
of its methods (``text_stream``, ``get_final_message()``, ...) consumes it.
(The same module ships in convtrack-openai and convtrack-anthropic.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar
from typing import Any

import wrapt

from convtrack._config import is_capturing
from convtrack._guard import report

from .call import LLMCall
from .remember import aremember_now, defer, remember_now

Wrapper = Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any]

# While a helper's stream manager is being entered, the states of the streams it opens.
collecting: ContextVar[list[StreamState] | None] = ContextVar(
    "convtrack.llm.collecting", default=None
)


class StreamState:
    """The accumulator of one stream and its call's run (ended once)."""

    __slots__ = ("acc", "call", "done")

    def __init__(self, call: LLMCall, acc: Any) -> None:
        self.call = call
        self.acc = acc
        self.done = False
        helpers = collecting.get()
        if helpers is not None:
            helpers.append(self)

    def observe(self, item: Any) -> None:
        """Feed one stream item to the accumulator."""
        try:
            self.acc.observe(item)
        except Exception as exc:
            report(f"{self.call.endpoint.source}: reading a stream item", exc)

    def _end(self, error: BaseException | None) -> list[Any]:
        if self.done:
            return []
        self.done = True
        try:
            answer = self.acc.answer(is_capturing())
            return self.call.end(answer, error=error, incomplete=not self.acc.complete)
        except Exception as exc:
            report(f"{self.call.endpoint.source}: ending a stream's run", exc)
            self.call.run.end(error=error)
            return []

    def fail(self, exc: BaseException) -> None:
        """The stream raised `exc`: end the run with it (nothing is remembered)."""
        self._end(exc)

    def finish(self) -> None:
        """The stream ended (exhausted or closed): end the run, remember the answer."""
        for memory in self._end(None):
            remember_now(self.call.decision, memory)

    async def afinish(self) -> None:
        """`finish()` for async streams."""
        for memory in self._end(None):
            await aremember_now(self.call.decision, memory)

    def collected(self) -> None:
        """The stream was garbage-collected: end the run now, remember at the next call."""
        try:
            defer(self.call.decision, self._end(None))
        except Exception:  # never raise from a finaliser
            return


class SyncStream(wrapt.ObjectProxy[Any]):
    """A sync SDK stream, observed."""

    def __init__(self, wrapped: Any, state: StreamState) -> None:
        super().__init__(wrapped)
        self._self_state = state

    def __iter__(self) -> Iterator[Any]:
        return self._self_iterate()

    def _self_iterate(self) -> Iterator[Any]:
        state = self._self_state
        try:
            for item in self.__wrapped__:
                state.observe(item)
                yield item
        except GeneratorExit:  # our iterator was dropped; the stream may be read on
            raise
        except BaseException as exc:
            state.fail(exc)
            raise
        state.finish()

    def __next__(self) -> Any:
        state = self._self_state
        try:
            item = self.__wrapped__.__next__()
        except StopIteration:
            state.finish()
            raise
        except BaseException as exc:
            state.fail(exc)
            raise
        state.observe(item)
        return item

    def __enter__(self) -> Any:
        entered = self.__wrapped__.__enter__()
        return self if entered is self.__wrapped__ else entered

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            self._self_state.finish()

    def close(self) -> Any:
        """Close the SDK stream; the run ends with what was received."""
        try:
            return self.__wrapped__.close()
        finally:
            self._self_state.finish()

    def __del__(self) -> None:
        try:
            state = self._self_state
        except AttributeError:  # __init__ did not finish
            return
        state.collected()


class AsyncStream(wrapt.ObjectProxy[Any]):
    """An async SDK stream, observed."""

    def __init__(self, wrapped: Any, state: StreamState) -> None:
        super().__init__(wrapped)
        self._self_state = state

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._self_aiterate()

    async def _self_aiterate(self) -> AsyncIterator[Any]:
        state = self._self_state
        try:
            async for item in self.__wrapped__:
                state.observe(item)
                yield item
        except GeneratorExit:
            raise
        except BaseException as exc:
            state.fail(exc)
            raise
        await state.afinish()

    async def __anext__(self) -> Any:
        state = self._self_state
        try:
            item = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            await state.afinish()
            raise
        except BaseException as exc:
            state.fail(exc)
            raise
        state.observe(item)
        return item

    async def __aenter__(self) -> Any:
        entered = await self.__wrapped__.__aenter__()
        return self if entered is self.__wrapped__ else entered

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            await self._self_state.afinish()

    async def close(self) -> Any:
        """Close the SDK stream; the run ends with what was received."""
        try:
            return await self.__wrapped__.close()
        finally:
            await self._self_state.afinish()

    def __del__(self) -> None:
        try:
            state = self._self_state
        except AttributeError:  # __init__ did not finish
            return
        state.collected()


def observe(call: LLMCall, result: Any) -> Any:
    """The proxy to hand back for an SDK stream; None when `result` is not a stream."""
    endpoint = call.endpoint
    try:
        if isinstance(result, endpoint.stream_types):
            return SyncStream(result, StreamState(call, endpoint.accumulator()))
        if isinstance(result, endpoint.async_stream_types):
            return AsyncStream(result, StreamState(call, endpoint.accumulator()))
    except Exception as exc:
        report(f"{endpoint.source}: observing a stream", exc)
        call.run.end()
        return result
    return None
