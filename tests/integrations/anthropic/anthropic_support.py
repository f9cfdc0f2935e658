"""Helpers for the Anthropic integration tests: one turn, whichever way it is made."""

from __future__ import annotations

from typing import Any

import anthropic

import convtrack
from convtrack import Run

MODEL = "claude-test"
HOWS = ["create", "create-stream", "stream-helper"]


def llm_runs(sink: convtrack.MemorySink) -> list[Run]:
    """The LLM runs recorded so far (flushed first)."""
    convtrack.flush()
    return [run for run in sink.runs if run.kind == "llm"]


class Claude:
    """Makes a `messages` call with a sync or async client, in one of three ways.

    `create`: `messages.create()`; `create-stream`: `messages.create(stream=True)`;
    `stream-helper`: `with messages.stream(...) as s: s.get_final_message()`. Calling it
    returns the assistant turn as the app would send it back: the Message's content
    blocks (SDK objects), or for a raw stream the text assembled from its events.
    """

    def __init__(self, client: anthropic.Anthropic | anthropic.AsyncAnthropic, how: str) -> None:
        self.client = client
        self.how = how
        self.is_async = isinstance(client, anthropic.AsyncAnthropic)

    async def __call__(self, messages: list[Any], **kwargs: Any) -> dict[str, Any]:
        """Send `messages`; return the answer as an assistant message."""
        kwargs = {"model": MODEL, "max_tokens": 100, "messages": messages, **kwargs}
        if self.how == "create-stream":
            events = await self.events(**kwargs)
            text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
            return {"role": "assistant", "content": text}
        if self.how == "stream-helper":
            message = await self.final_message(**kwargs)
        elif isinstance(self.client, anthropic.AsyncAnthropic):
            message = await self.client.messages.create(**kwargs)
        else:
            message = self.client.messages.create(**kwargs)
        return {"role": "assistant", "content": message.content}

    async def events(self, **kwargs: Any) -> list[Any]:
        """Every event of `messages.create(stream=True)`."""
        if isinstance(self.client, anthropic.AsyncAnthropic):
            stream = await self.client.messages.create(stream=True, **kwargs)
            return [event async for event in stream]
        return list(self.client.messages.create(stream=True, **kwargs))

    async def final_message(self, **kwargs: Any) -> Any:
        """`messages.stream(...)`'s final message."""
        if isinstance(self.client, anthropic.AsyncAnthropic):
            async with self.client.messages.stream(**kwargs) as stream:
                return await stream.get_final_message()
        with self.client.messages.stream(**kwargs) as sync_stream:
            return sync_stream.get_final_message()
