"""Helpers for the OpenAI integration tests: one chat turn, whichever way it is made."""

from __future__ import annotations

from typing import Any

import openai

import convtrack
from convtrack import Run

MODEL = "gpt-test"


def llm_runs(sink: convtrack.MemorySink) -> list[Run]:
    """The LLM runs recorded so far (flushed first)."""
    convtrack.flush()
    return [run for run in sink.runs if run.kind == "llm"]


class Chat:
    """Makes a chat turn with a sync or async client, streamed or not.

    Calling it returns the assistant message as the app would send it back next turn:
    the SDK's message object, or for a stream the dict assembled from its chunks.
    """

    def __init__(self, client: openai.OpenAI | openai.AsyncOpenAI, stream: bool) -> None:
        self.client = client
        self.stream = stream
        self.is_async = isinstance(client, openai.AsyncOpenAI)

    async def __call__(self, messages: list[Any], **kwargs: Any) -> Any:
        """Send `messages`; return the answer message."""
        kwargs = {"model": MODEL, "messages": messages, **kwargs}
        if self.stream:
            kwargs.setdefault("stream_options", {"include_usage": True})
            chunks = await self.chunks(**kwargs)
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            return {"role": "assistant", "content": text}
        if isinstance(self.client, openai.AsyncOpenAI):
            completion = await self.client.chat.completions.create(**kwargs)
        else:
            completion = self.client.chat.completions.create(**kwargs)
        return completion.choices[0].message

    async def chunks(self, **kwargs: Any) -> list[Any]:
        """Every chunk of a streamed completion."""
        if isinstance(self.client, openai.AsyncOpenAI):
            stream = await self.client.chat.completions.create(stream=True, **kwargs)
            return [chunk async for chunk in stream]
        return list(self.client.chat.completions.create(stream=True, **kwargs))

    async def create(self, **kwargs: Any) -> Any:
        """`chat.completions.create(**kwargs)` with the model set, awaited if async."""
        kwargs = {"model": MODEL, "stream": self.stream, **kwargs}
        if isinstance(self.client, openai.AsyncOpenAI):
            return await self.client.chat.completions.create(**kwargs)
        return self.client.chat.completions.create(**kwargs)


class Reader:
    """Reads a sync or async SDK stream through one awaitable interface."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.is_async = hasattr(stream, "__anext__")

    async def next(self) -> Any:
        """The next item (`next()` / `__anext__()`)."""
        if self.is_async:
            return await self.stream.__anext__()
        return next(self.stream)

    async def rest(self) -> list[Any]:
        """Every remaining item, by iterating the stream (`for` / `async for`)."""
        if self.is_async:
            return [item async for item in self.stream]
        return list(self.stream)

    async def close(self) -> None:
        """`close()` / `await close()`."""
        if self.is_async:
            await self.stream.close()
        else:
            self.stream.close()


class Respond:
    """Makes a Responses API call with a sync or async client, streamed or not.

    Calling it returns the final `Response` (for a stream, from its last event).
    """

    def __init__(self, client: openai.OpenAI | openai.AsyncOpenAI, stream: bool) -> None:
        self.client = client
        self.stream = stream

    async def __call__(self, **kwargs: Any) -> Any:
        """`responses.create(model=MODEL, **kwargs)`; the final response."""
        kwargs = {"model": MODEL, **kwargs}
        if self.stream:
            kwargs["stream"] = True
        if isinstance(self.client, openai.AsyncOpenAI):
            result = await self.client.responses.create(**kwargs)
            events = [event async for event in result] if self.stream else None
        else:
            result = self.client.responses.create(**kwargs)
            events = list(result) if self.stream else None
        if events is None:
            return result
        return next(e.response for e in events if e.type == "response.completed")
