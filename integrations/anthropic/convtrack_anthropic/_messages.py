"""Messages: the request's ids, messages and system prompt, the answer, and stream events.

Ids a call carries: Anthropic's API accepts only ``metadata={"user_id": ...}``, which is
the run's user. A ``conversation_id``/``agent_id`` in ``metadata`` is read too (for
gateways that accept more keys; the Anthropic API itself rejects them), but the usual way
to name a conversation is the convtrack context: ``with convtrack.conversation(id):``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import anthropic
from anthropic._models import construct_type
from anthropic.types import Message, RawMessageStreamEvent

from convtrack.instrumentation.llm import (
    Answer,
    Endpoint,
    Request,
    fields,
    given,
    plain,
    text_or_none,
)

_USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


def usage_of(usage: Any) -> dict[str, Any] | None:
    """Anthropic usage with `total_tokens` (all input tokens, cached or not, plus output)."""
    if usage is None:
        return None
    found = fields(usage)
    return _with_total({k: found[k] for k in _USAGE_KEYS if found.get(k) is not None})


def _with_total(usage: dict[str, Any]) -> dict[str, Any]:
    usage["total_tokens"] = sum(usage.get(key) or 0 for key in _USAGE_KEYS)
    return usage


class MessagesEndpoint(Endpoint):
    """`messages.create` / `.parse` / `.stream`."""

    name = "anthropic.messages"
    source = "anthropic"
    stream_types = (anthropic.Stream,)
    async_stream_types = (anthropic.AsyncStream,)
    answer_types = (Message,)
    raw_types = (anthropic.APIResponse, anthropic.AsyncAPIResponse)

    def request(self, kwargs: Mapping[str, Any], stream: bool | None) -> Request:
        """Read the request."""
        metadata = given(kwargs.get("metadata"))
        if not isinstance(metadata, Mapping):
            metadata = {}
        messages = kwargs.get("messages")
        return Request(
            text_or_none(metadata.get("conversation_id")),
            text_or_none(metadata.get("user_id")),
            text_or_none(metadata.get("agent_id")),
            list(messages) if isinstance(messages, (list, tuple)) else None,  # as sent now
            given(kwargs.get("system")),
            text_or_none(kwargs.get("model")),
            given(kwargs.get("stream")) is True if stream is None else stream,
        )

    def inputs(self, request: Request, kwargs: Mapping[str, Any]) -> Any:
        """`{"messages": [...]}`, with `system` when given."""
        inputs: dict[str, Any] = {"messages": plain(request.messages)}
        if request.system is not None:
            inputs["system"] = plain(request.system)
        return inputs

    def answer(self, result: Any, capture: bool) -> Answer:
        """Read a Message."""
        message = {"role": "assistant", "content": [plain(block) for block in result.content]}
        return Answer(
            message if capture else None,
            [[message]],
            usage_of(result.usage),
            result.model,
            result.id,
        )

    def decode(self, data: Any, item: bool) -> Any:
        """A raw stream event or Message from its JSON."""
        return construct_type(type_=RawMessageStreamEvent if item else Message, value=data)

    def accumulator(self) -> MessagesAccumulator:
        """A new accumulator of stream events."""
        return MessagesAccumulator()


class MessagesAccumulator:
    """Assembles the assistant message of a Messages stream from its raw events."""

    __slots__ = ("_blocks", "_parts", "complete", "model", "response_id", "usage")

    def __init__(self) -> None:
        self._blocks: dict[int, dict[str, Any]] = {}
        self._parts: dict[int, dict[str, list[str]]] = {}  # index -> field -> pieces
        self.complete = False
        self.model: str | None = None
        self.response_id: str | None = None
        self.usage: dict[str, Any] = {}

    def observe(self, event: Any) -> None:
        """Take one raw stream event."""
        kind = getattr(event, "type", None)
        if kind == "content_block_delta":
            self._delta(event.index, event.delta)
        elif kind == "content_block_start":
            self._blocks[event.index] = plain(event.content_block)
        elif kind == "message_start":
            message = event.message
            self.response_id, self.model = message.id, message.model
            self.usage = usage_of(message.usage) or {}
        elif kind == "message_delta":
            found = fields(event.usage)
            for key in _USAGE_KEYS:
                if found.get(key) is not None:
                    self.usage[key] = found[key]
            _with_total(self.usage)
        elif kind == "message_stop":
            self.complete = True

    def _delta(self, index: int, delta: Any) -> None:
        kind = delta.type
        if kind == "text_delta":
            field, piece = "text", delta.text
        elif kind == "input_json_delta":
            field, piece = "input", delta.partial_json
        elif kind == "thinking_delta":
            field, piece = "thinking", delta.thinking
        elif kind == "signature_delta":
            self._blocks.setdefault(index, {})["signature"] = delta.signature
            return
        elif kind == "citations_delta":
            citations = self._blocks.setdefault(index, {}).setdefault("citations", [])
            citations.append(plain(delta.citation))
            return
        else:
            return
        self._parts.setdefault(index, {}).setdefault(field, []).append(piece)

    def _content(self) -> list[dict[str, Any]]:
        content = []
        for index, started in sorted(self._blocks.items()):
            block = dict(started)
            for field, pieces in self._parts.get(index, {}).items():
                joined = "".join(pieces)
                if field == "input":
                    try:
                        block["input"] = json.loads(joined) if joined.strip() else {}
                    except ValueError:  # a stream cut in the middle of the arguments
                        block["input"] = joined
                else:
                    block[field] = block.get(field, "") + joined
            content.append(block)
        return content

    def answer(self, capture: bool) -> Answer:
        """The message received so far."""
        message = {"role": "assistant", "content": self._content()}
        return Answer(
            message if capture else None,
            [[message]] if message["content"] else [],
            self.usage or None,
            self.model,
            self.response_id,
        )
