"""The Responses API: `conversation` and `previous_response_id` say which conversation a call
continues, with no hashing of its history.

- ``conversation`` (an id or ``{"id": ...}``) names the conversation: ``explicit``.
- ``previous_response_id`` continues the conversation of that response. After each
  response, convtrack remembers ``response id -> conversation`` in the grouper's store
  (so it is shared by replicas with a shared store, kept for the grouper's TTL, and its
  key is a keyed hash like every other): the "history" remembered is a single marker
  message standing for the response, and the next request's history starts with the
  marker of its ``previous_response_id``. The lookup is automatic grouping
  (``auto-matched``; consumed once in ``consume`` mode, so a regenerated turn forks,
  as with chat histories), run through the core's one decision point. An unknown id
  (expired, another process without a shared store) starts a new conversation.
- Without either, a request that resends its whole ``input`` (``store=False`` apps, the
  Agents SDK's ``to_input_list()``) is grouped by its history like a chat request
  (``instructions`` counting as the system prompt), its items read as the chat messages
  they stand for (``function_call`` items as the assistant's tool calls,
  ``function_call_output`` as tool messages, ``reasoning`` left out): see
  ``convtrack.grouping._items``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import openai
from openai._models import construct_type
from openai.types.responses import Response, ResponseStreamEvent

from convtrack.grouping import chat_messages
from convtrack.instrumentation.llm import (
    Answer,
    Endpoint,
    Memory,
    Request,
    given,
    plain,
    text_or_none,
)

from ._chat import RAW_TYPES, ids, usage_of

MARKER_NAME = "convtrack.openai.response"


def marker(response_id: str) -> dict[str, str]:
    """The message that stands for the history up to and including response `response_id`."""
    return {"role": "assistant", "name": MARKER_NAME, "content": response_id}


def _conversation_id(conversation: Any) -> str | None:
    if isinstance(conversation, Mapping):
        conversation = conversation.get("id")
    else:
        conversation = getattr(conversation, "id", conversation)
    return text_or_none(conversation)


class ResponsesEndpoint(Endpoint):
    """`responses.create` / `.parse` (and `.stream`, which calls `create`)."""

    name = "openai.responses"
    source = "openai"
    stream_types = (openai.Stream,)
    async_stream_types = (openai.AsyncStream,)
    answer_types = (Response,)
    raw_types = RAW_TYPES

    def request(self, kwargs: Mapping[str, Any], stream: bool | None) -> Request:
        """Read the request."""
        conversation_id, user_id, agent_id = ids(kwargs.get("metadata"))
        if conversation_id is None:
            conversation_id = _conversation_id(given(kwargs.get("conversation")))
        previous = text_or_none(given(kwargs.get("previous_response_id")))
        raw = given(kwargs.get("input"))
        if isinstance(raw, str):
            items: list[Any] | None = [{"role": "user", "content": raw}]
        else:  # items as the chat messages they stand for: a tool turn groups like chat
            items = chat_messages(raw) if isinstance(raw, (list, tuple)) else None
        instructions = text_or_none(given(kwargs.get("instructions")))
        messages: list[Any] | None
        if previous is not None:
            messages, system = [marker(previous), *(items or ())], None
        else:
            messages, system = items, instructions
        return Request(
            conversation_id,
            user_id,
            agent_id,
            messages,
            system,
            text_or_none(given(kwargs.get("model"))),
            given(kwargs.get("stream")) is True if stream is None else stream,
            (previous, given(kwargs.get("store")) is not False),
        )

    def inputs(self, request: Request, kwargs: Mapping[str, Any]) -> Any:
        """`{"input": ...}`, with `instructions` and `previous_response_id` when given."""
        inputs: dict[str, Any] = {"input": plain(given(kwargs.get("input")))}
        instructions = given(kwargs.get("instructions"))
        if instructions:
            inputs["instructions"] = plain(instructions)
        if request.extra[0] is not None:
            inputs["previous_response_id"] = request.extra[0]
        return inputs

    def answer(self, result: Any, capture: bool) -> Answer:
        """Read a Response."""
        return answer_of(result, capture)

    def decode(self, data: Any, item: bool) -> Any:
        """A stream event or Response from its JSON."""
        return construct_type(type_=ResponseStreamEvent if item else Response, value=data)

    def accumulator(self) -> ResponsesAccumulator:
        """A new accumulator of stream events."""
        return ResponsesAccumulator()

    def memories(self, request: Request, answer: Answer) -> list[Memory]:
        """The response's marker (when stored), and the whole history when it was resent."""
        previous, stored = request.extra
        memories = []
        if answer.response_id and stored:
            memories.append(Memory([marker(answer.response_id)], None, always=True))
        if previous is None and request.messages is not None:
            memories.extend(
                Memory(chat_messages([*request.messages, *tail]), request.system)
                for tail in answer.tails
            )
        return memories


def answer_of(response: Any, capture: bool) -> Answer:
    """The Answer of a (final) Response."""
    items = [plain(item) for item in response.output or ()]
    outputs = None
    if capture:
        outputs = {"role": "assistant", "content": response.output_text}
        calls = [
            {
                "id": item.get("call_id"),
                "name": item.get("name"),
                "arguments": item.get("arguments"),
            }
            for item in items
            if item.get("type") == "function_call"
        ]
        if calls:
            outputs["tool_calls"] = calls
    error = None
    if response.status == "failed":
        error = getattr(response.error, "message", None) or "response failed"
    return Answer(
        outputs,
        [items] if items else [],
        usage_of(response.usage),
        response.model,
        response.id,
        error,
    )


class ResponsesAccumulator:
    """Reads a Responses stream: the final response from its last event, else the text."""

    __slots__ = ("_final", "_texts", "complete", "error", "model", "response_id")

    def __init__(self) -> None:
        self._final: Any = None
        self._texts: list[str] = []
        self.complete = False
        self.error: str | None = None
        self.model: str | None = None
        self.response_id: str | None = None

    def observe(self, event: Any) -> None:
        """Take one stream event."""
        kind = getattr(event, "type", None)
        if kind == "response.output_text.delta":
            self._texts.append(event.delta)
        elif kind in ("response.created", "response.in_progress", "response.queued"):
            self.response_id = event.response.id
            self.model = event.response.model
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self._final = event.response
            self.complete = True
        elif kind == "error":
            self.error = getattr(event, "message", None) or "error"
        elif kind is None and getattr(event, "event", None) == "error":  # openai < 2
            data = getattr(event, "data", None)
            self.error = (data.get("message") if isinstance(data, dict) else None) or "error"

    def answer(self, capture: bool) -> Answer:
        """The final response, or the text received so far."""
        if self._final is not None:
            answer = answer_of(self._final, capture)
            return answer._replace(error=answer.error or self.error)
        message = {"role": "assistant", "content": "".join(self._texts)}
        return Answer(
            dict(message) if capture else None,
            [[message]] if self._texts else [],
            None,
            self.model,
            self.response_id,
            self.error,
        )
