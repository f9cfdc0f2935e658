"""Chat completions: the request's ids and messages, the answer, and streamed chunks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import openai
from openai._legacy_response import LegacyAPIResponse
from openai._models import construct_type
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from convtrack.instrumentation.llm import (
    Answer,
    Endpoint,
    Request,
    fields,
    given,
    plain,
    text_or_none,
)


def ids(metadata: Any) -> tuple[str | None, str | None, str | None]:
    """(conversation_id, user_id, agent_id) from a request's `metadata`."""
    if not isinstance(metadata, Mapping):
        return None, None, None
    return (
        text_or_none(metadata.get("conversation_id")),
        text_or_none(metadata.get("user_id")),
        text_or_none(metadata.get("agent_id")),
    )


def usage_of(usage: Any) -> dict[str, Any] | None:
    """OpenAI usage (chat or responses naming) as input/output/total tokens."""
    if usage is None:
        return None
    get = fields(usage).get
    inp = get("prompt_tokens")
    if inp is None:
        inp = get("input_tokens")
    out = get("completion_tokens")
    if out is None:
        out = get("output_tokens")
    result: dict[str, Any] = {"input_tokens": inp, "output_tokens": out}
    total = get("total_tokens")
    if total is None and isinstance(inp, int) and isinstance(out, int):
        total = inp + out
    result["total_tokens"] = total
    for details, key, name in _DETAILS:
        value = fields(get(details)).get(key)
        if value:
            result[name] = value
    return result


RAW_TYPES = (LegacyAPIResponse, openai.APIResponse, openai.AsyncAPIResponse)


_DETAILS = (
    ("prompt_tokens_details", "cached_tokens", "cached_input_tokens"),
    ("input_tokens_details", "cached_tokens", "cached_input_tokens"),
    ("completion_tokens_details", "reasoning_tokens", "reasoning_tokens"),
    ("output_tokens_details", "reasoning_tokens", "reasoning_tokens"),
)


class ChatEndpoint(Endpoint):
    """`chat.completions.create` / `.parse` (and `.stream`, which calls `create`)."""

    name = "openai.chat.completions"
    source = "openai"
    stream_types = (openai.Stream,)
    async_stream_types = (openai.AsyncStream,)
    answer_types = (ChatCompletion,)
    raw_types = RAW_TYPES

    def request(self, kwargs: Mapping[str, Any], stream: bool | None) -> Request:
        """Read the request."""
        conversation_id, user_id, agent_id = ids(kwargs.get("metadata"))
        messages = kwargs.get("messages")
        return Request(
            conversation_id,
            user_id,
            agent_id,
            list(messages) if isinstance(messages, (list, tuple)) else None,  # as sent now
            None,
            text_or_none(kwargs.get("model")),
            given(kwargs.get("stream")) is True if stream is None else stream,
        )

    def answer(self, result: Any, capture: bool) -> Answer:
        """Read a ChatCompletion."""
        messages = [plain(choice.message) for choice in result.choices or ()]
        return Answer(
            messages[0] if capture and messages else None,
            [[message] for message in messages],
            usage_of(result.usage),
            result.model,
            result.id,
        )

    def decode(self, data: Any, item: bool) -> Any:
        """A ChatCompletionChunk or ChatCompletion from its JSON."""
        return construct_type(type_=ChatCompletionChunk if item else ChatCompletion, value=data)

    def accumulator(self) -> ChatAccumulator:
        """A new accumulator of chunks."""
        return ChatAccumulator()


class _Choice:
    __slots__ = ("content", "function_call", "refusal", "tool_calls")

    def __init__(self) -> None:
        self.content: list[str] = []
        self.refusal: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.function_call: dict[str, Any] | None = None

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.content) or None}
        if self.refusal:
            message["refusal"] = "".join(self.refusal)
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call["id"],
                    "type": call["type"],
                    "function": {"name": call["name"], "arguments": "".join(call["args"])},
                }
                for _, call in sorted(self.tool_calls.items())
            ]
        if self.function_call is not None:
            fc = self.function_call
            message["function_call"] = {"name": fc["name"], "arguments": "".join(fc["args"])}
        return message


class ChatAccumulator:
    """Assembles the assistant message(s) of a chat completion stream from its chunks."""

    __slots__ = ("_choices", "complete", "model", "response_id", "usage")

    def __init__(self) -> None:
        self._choices: dict[int, _Choice] = {}
        self.complete = False
        self.model: str | None = None
        self.response_id: str | None = None
        self.usage: dict[str, Any] | None = None

    def observe(self, chunk: Any) -> None:
        """Take one ChatCompletionChunk."""
        if self.response_id is None:
            self.response_id = chunk.id
            self.model = chunk.model
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage_of(usage)
        for choice in chunk.choices or ():
            state = self._choices.get(choice.index)
            if state is None:
                state = self._choices[choice.index] = _Choice()
            delta = choice.delta
            if delta is not None:
                _add_delta(state, delta)
            if choice.finish_reason is not None:
                self.complete = True

    def answer(self, capture: bool) -> Answer:
        """The message(s) received so far."""
        messages = [state.message() for _, state in sorted(self._choices.items())]
        return Answer(
            messages[0] if capture and messages else None,
            [[message] for message in messages],
            self.usage,
            self.model,
            self.response_id,
        )


def _add_delta(state: _Choice, delta: Any) -> None:
    if delta.content:
        state.content.append(delta.content)
    refusal = getattr(delta, "refusal", None)
    if refusal:
        state.refusal.append(refusal)
    for call in delta.tool_calls or ():
        entry = state.tool_calls.get(call.index)
        if entry is None:
            entry = state.tool_calls[call.index] = {
                "id": None,
                "type": "function",
                "name": "",
                "args": [],
            }
        if call.id:
            entry["id"] = call.id
        if call.type:
            entry["type"] = call.type
        function = call.function
        if function is not None:
            if function.name:
                entry["name"] += function.name
            if function.arguments:
                entry["args"].append(function.arguments)
    function_call = getattr(delta, "function_call", None)
    if function_call is not None:
        if state.function_call is None:
            state.function_call = {"name": "", "args": []}
        if function_call.name:
            state.function_call["name"] += function_call.name
        if function_call.arguments:
            state.function_call["args"].append(function_call.arguments)
