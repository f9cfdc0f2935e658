"""Raw responses: calls made through ``with_raw_response`` and ``with_streaming_response``.

``with_raw_response.create()`` hands back the SDK's raw response with its body already read
(unless the answer is streamed); the SDK caches what its ``parse()`` returns, so convtrack
parses it at once and the caller later gets that very object. ``with_streaming_response``
(and a streamed ``with_raw_response``) hands back a response whose body the caller reads
later: a proxy observes what the caller's own reads return (``parse()``, ``read()``,
``text()``, ``json()``, ``iter_bytes/iter_text/iter_lines()``) and never reads anything
itself. The run ends once: when a read completes, or when the response is closed or
garbage-collected with what was read so far.
(The same module ships in convtrack-openai and convtrack-anthropic.)
"""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import wrapt

from convtrack._guard import report

from . import stream
from .call import LLMCall


def eager(call: LLMCall, result: Any) -> bool:
    """Whether `result`'s body is read already and holds a whole (non-streamed) answer."""
    return not call.request.stream and getattr(result, "is_closed", False) is True


def parses_async(result: Any) -> bool:
    """Whether `result.parse()` is a coroutine function (an async client's APIResponse)."""
    return inspect.iscoroutinefunction(getattr(type(result), "parse", None))


def settle(call: LLMCall, result: Any) -> Any:
    """What a sync call hands back for a raw response: parsed and recorded now, or a proxy."""
    if not eager(call, result) or parses_async(result):
        return proxy(call, result)
    try:
        parsed = result.parse()  # cached by the SDK: the caller's parse() returns it
    except Exception as exc:
        call.fail(exc)
        return result
    call.complete(parsed)
    return result


async def asettle(call: LLMCall, result: Any) -> Any:
    """`settle()` for async calls."""
    if not eager(call, result):
        return proxy(call, result)
    try:
        parsed = result.parse()
        if inspect.isawaitable(parsed):
            parsed = await parsed
    except Exception as exc:
        call.fail(exc)
        return result
    await call.acomplete(parsed)
    return result


def proxy(call: LLMCall, result: Any) -> Any:
    """The observing proxy to hand back for a raw response whose body is still unread."""
    reads = _Reads(call)
    if parses_async(result):
        return AsyncRawResponse(result, reads)
    if hasattr(type(result), "iter_lines"):
        return RawResponse(result, reads)
    return LegacyRawResponse(result, reads)  # openai's LegacyAPIResponse: parse() only


def sse_data(text: str) -> Iterator[Any]:
    """The JSON `data` of each complete server-sent event in `text` (others skipped)."""
    for block in text.replace("\r\n", "\n").split("\n\n")[:-1]:
        data = "\n".join(
            line[5:].lstrip(" ") for line in block.split("\n") if line.startswith("data:")
        )
        if data and data != "[DONE]":
            try:
                yield json.loads(data)
            except ValueError:
                continue


class _Reads:
    """What the caller's reads of one raw response showed; ends the call's run once."""

    __slots__ = ("_bytes", "_texts", "call", "done", "pairs")

    def __init__(self, call: LLMCall) -> None:
        self.call = call
        self.done = False
        self._bytes = bytearray()
        self._texts: list[str] = []
        self.pairs: list[tuple[Any, Any]] = []  # (SDK stream, its observing proxy)

    def add(self, chunk: Any) -> None:
        """Keep a chunk the caller read (bytes or text)."""
        if isinstance(chunk, (bytes, bytearray)):
            self._bytes += chunk
        elif isinstance(chunk, str):
            self._texts.append(chunk)

    def parsed(self, value: Any) -> Any:
        """What `parse()` returned: a stream is observed, an answer recorded (and returned)."""
        for sdk_stream, observed in self.pairs:
            if sdk_stream is value:
                return observed
        if self.done:
            return value
        self.done = True
        try:
            observed = stream.observe(self.call, value)
        except Exception as exc:  # observe() is guarded; this is belt and braces
            report(f"{self.call.endpoint.source}: observing a raw response", exc)
            return value
        if observed is not None:
            self.pairs.append((value, observed))
            return observed
        self.call.complete(value)
        return value

    def body(self) -> str:
        """Everything the caller read, as text."""
        return self._bytes.decode("utf-8", "replace") + "".join(self._texts)

    def state(self, text: str) -> stream.StreamState | None:
        """A body read in full or in part, replayed: the stream's state, else None."""
        endpoint = self.call.endpoint
        if not self.call.request.stream:
            return None
        state = stream.StreamState(self.call, endpoint.accumulator())
        for data in sse_data(text):
            item = endpoint.decode(data, item=True)
            if item is not None:
                state.observe(item)
        return state

    def answer(self, text: str) -> Any:
        """The SDK answer object a non-streamed body stands for, else None."""
        try:
            return self.call.endpoint.decode(json.loads(text), item=False)
        except ValueError:
            return None

    def _states(self) -> list[stream.StreamState]:
        return [observed._self_state for _, observed in self.pairs]

    def finish(self, text: str | None = None) -> None:
        """The body was read (`text`) or the response closed: end the run (sync code)."""
        for state in self._states():
            state.finish()
        if self.done:
            return
        self.done = True
        try:
            text = self.body() if text is None else text
            replay = self.state(text)
            if replay is not None:
                replay.finish()
            else:
                self._complete(self.answer(text))
        except Exception as exc:
            report(f"{self.call.endpoint.source}: reading a raw response", exc)
            self.call.run.end()

    async def afinish(self, text: str | None = None) -> None:
        """`finish()` for async code (an async grouping store is awaited)."""
        for state in self._states():
            await state.afinish()
        if self.done:
            return
        self.done = True
        try:
            text = self.body() if text is None else text
            replay = self.state(text)
            if replay is not None:
                await replay.afinish()
            else:
                answer = self.answer(text)
                if answer is None:
                    self.call.run.end(metadata={"incomplete": True})
                else:
                    await self.call.acomplete(answer)
        except Exception as exc:
            report(f"{self.call.endpoint.source}: reading a raw response", exc)
            self.call.run.end()

    def _complete(self, answer: Any) -> None:
        if answer is None:
            self.call.run.end(metadata={"incomplete": True})
        else:
            self.call.complete(answer)

    def fail(self, exc: BaseException) -> None:
        """A read raised `exc`: the run ends with it."""
        if not self.done:
            self.done = True
            self.call.fail(exc)

    def collected(self) -> None:
        """The response was garbage-collected unread or half-read: end the run now."""
        try:
            for state in self._states():
                state.collected()
            if not self.done:
                self.done = True
                replay = self.state(self.body())
                if replay is not None:
                    replay.collected()
                else:
                    self.call.run.end(metadata={"incomplete": True})
        except Exception:  # never raise from a finaliser
            return


class LegacyRawResponse(wrapt.ObjectProxy[Any]):
    """A raw response whose body is unread and whose `parse()` is sync, observed."""

    def __init__(self, wrapped: Any, reads: _Reads) -> None:
        super().__init__(wrapped)
        self._self_reads = reads

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        """The SDK's `parse()`; a stream it returns is observed."""
        return self._self_reads.parsed(self.__wrapped__.parse(*args, **kwargs))

    def __del__(self) -> None:
        try:
            reads = self._self_reads
        except AttributeError:  # __init__ did not finish
            return
        reads.collected()


class RawResponse(LegacyRawResponse):
    """A sync `APIResponse` (`with_streaming_response`), observed."""

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        """The SDK's `parse()`: a stream it returns is observed, an answer recorded."""
        reads = self._self_reads
        try:
            value = self.__wrapped__.parse(*args, **kwargs)
        except BaseException as exc:
            reads.fail(exc)
            raise
        return reads.parsed(value)

    def read(self) -> Any:
        """The SDK's `read()`; the body is what the run records."""
        return self._self_whole(self.__wrapped__.read)

    def text(self) -> Any:
        """The SDK's `text()`."""
        return self._self_whole(self.__wrapped__.text)

    def json(self) -> Any:
        """The SDK's `json()`."""
        return self._self_whole(self.__wrapped__.json)

    def _self_whole(self, read: Any) -> Any:
        reads = self._self_reads
        try:
            value = read()
        except BaseException as exc:
            reads.fail(exc)
            raise
        reads.add(self.__wrapped__.http_response.content)
        reads.finish()
        return value

    def iter_bytes(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """The SDK's `iter_bytes()`, each chunk kept."""
        return self._self_iterate(self.__wrapped__.iter_bytes(*args, **kwargs), "")

    def iter_text(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """The SDK's `iter_text()`, each chunk kept."""
        return self._self_iterate(self.__wrapped__.iter_text(*args, **kwargs), "")

    def iter_lines(self) -> Iterator[Any]:
        """The SDK's `iter_lines()`, each line kept."""
        return self._self_iterate(self.__wrapped__.iter_lines(), "\n")

    def _self_iterate(self, chunks: Iterator[Any], end: str) -> Iterator[Any]:
        reads = self._self_reads
        try:
            for chunk in chunks:
                reads.add(chunk)
                if end:
                    reads.add(end)
                yield chunk
        except GeneratorExit:
            raise
        except BaseException as exc:
            reads.fail(exc)
            raise
        reads.finish()

    def close(self) -> Any:
        """Close the SDK response; the run ends with what was read."""
        try:
            return self.__wrapped__.close()
        finally:
            self._self_reads.finish()


class AsyncRawResponse(LegacyRawResponse):
    """An async `AsyncAPIResponse` (`with_streaming_response`, async client), observed."""

    async def parse(self, *args: Any, **kwargs: Any) -> Any:
        """The SDK's `parse()`: a stream it returns is observed, an answer recorded."""
        reads = self._self_reads
        try:
            value = await self.__wrapped__.parse(*args, **kwargs)
        except BaseException as exc:
            reads.fail(exc)
            raise
        if reads.done or not isinstance(value, reads.call.endpoint.answer_types):
            return reads.parsed(value)
        reads.done = True
        await reads.call.acomplete(value)
        return value

    async def read(self) -> Any:
        """The SDK's `read()`."""
        return await self._self_whole(self.__wrapped__.read)

    async def text(self) -> Any:
        """The SDK's `text()`."""
        return await self._self_whole(self.__wrapped__.text)

    async def json(self) -> Any:
        """The SDK's `json()`."""
        return await self._self_whole(self.__wrapped__.json)

    async def _self_whole(self, read: Any) -> Any:
        reads = self._self_reads
        try:
            value = await read()
        except BaseException as exc:
            reads.fail(exc)
            raise
        reads.add(self.__wrapped__.http_response.content)
        await reads.afinish()
        return value

    def iter_bytes(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        """The SDK's `iter_bytes()`, each chunk kept."""
        return self._self_aiterate(self.__wrapped__.iter_bytes(*args, **kwargs), "")

    def iter_text(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        """The SDK's `iter_text()`, each chunk kept."""
        return self._self_aiterate(self.__wrapped__.iter_text(*args, **kwargs), "")

    def iter_lines(self) -> AsyncIterator[Any]:
        """The SDK's `iter_lines()`, each line kept."""
        return self._self_aiterate(self.__wrapped__.iter_lines(), "\n")

    async def _self_aiterate(self, chunks: AsyncIterator[Any], end: str) -> AsyncIterator[Any]:
        reads = self._self_reads
        try:
            async for chunk in chunks:
                reads.add(chunk)
                if end:
                    reads.add(end)
                yield chunk
        except GeneratorExit:
            raise
        except BaseException as exc:
            reads.fail(exc)
            raise
        await reads.afinish()

    async def close(self) -> Any:
        """Close the SDK response; the run ends with what was read."""
        try:
            return await self.__wrapped__.close()
        finally:
            await self._self_reads.afinish()
