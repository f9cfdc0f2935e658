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
from collections.abc import AsyncIterator, Iterator
from typing import Any

import wrapt

from .call import LLMCall
from .reads import Reads


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
    reads = Reads(call)
    if parses_async(result):
        return AsyncRawResponse(result, reads)
    if hasattr(type(result), "iter_lines"):
        return RawResponse(result, reads)
    return LegacyRawResponse(result, reads)  # openai's LegacyAPIResponse: parse() only


class LegacyRawResponse(wrapt.ObjectProxy[Any]):
    """A raw response whose body is unread and whose `parse()` is sync, observed."""

    def __init__(self, wrapped: Any, reads: Reads) -> None:
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
