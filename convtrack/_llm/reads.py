"""What the caller's reads of a raw response showed, replayed into the call's run.

`Reads` keeps the bytes or text the caller read from a ``with_streaming_response`` body (or
the stream its ``parse()`` returned) and, once, ends the run: a streamed body's server-sent
events are decoded into the SDK's stream items (`Endpoint.decode`) and fed to the endpoint's
accumulator, a whole body into the SDK's answer object.
(The same module ships in convtrack-openai and convtrack-anthropic.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from convtrack._guard import report

from . import stream
from .call import LLMCall


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


class Reads:
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
