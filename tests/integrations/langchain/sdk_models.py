"""LangChain chat models that call the official SDK clients, as ChatOpenAI and ChatAnthropic do.

langchain-openai and langchain-anthropic are not dependencies of the tests: these subclasses are
the same seam (a `BaseChatModel` whose `_generate`/`_stream` call the real client).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    SystemMessage,
    convert_to_openai_messages,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

MODEL = "gpt-test"


def _usage(usage: Any) -> UsageMetadata:
    return {
        "input_tokens": usage.prompt_tokens,
        "output_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


class OpenAIChat(BaseChatModel):
    """`ChatOpenAI` in miniature: chat completions through a real `openai` client."""

    client: Any = None  # openai.OpenAI
    async_client: Any = None  # openai.AsyncOpenAI
    model: str = MODEL
    streaming: bool = False

    @property
    def _llm_type(self) -> str:
        return "openai-test"

    def _body(self, messages: list[BaseMessage], stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": convert_to_openai_messages(messages),
        }
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        return body

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        client: openai.OpenAI = self.client
        return _result(client.chat.completions.create(**self._body(messages, False)))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        client: openai.AsyncOpenAI = self.async_client
        return _result(await client.chat.completions.create(**self._body(messages, False)))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        client: openai.OpenAI = self.client
        for chunk in client.chat.completions.create(**self._body(messages, True)):
            yield _chunk(chunk)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        client: openai.AsyncOpenAI = self.async_client
        async for chunk in await client.chat.completions.create(**self._body(messages, True)):
            yield _chunk(chunk)


class SyncOnlyOpenAIChat(OpenAIChat):
    """A model with no async code: langchain-core runs `_generate`/`_stream` in its thread pool."""

    _agenerate = BaseChatModel._agenerate
    _astream = BaseChatModel._astream


class TwoCallsOpenAIChat(OpenAIChat):
    """A model making two SDK calls for one answer (a draft, then the final one)."""

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        super()._generate(messages, stop, run_manager, **kwargs)
        return super()._generate(messages, stop, run_manager, **kwargs)


def _result(completion: Any) -> ChatResult:
    message = AIMessage(
        content=completion.choices[0].message.content or "",
        usage_metadata=_usage(completion.usage),
        response_metadata={"model_name": completion.model, "id": completion.id},
    )
    return ChatResult(generations=[ChatGeneration(message=message)])


def _chunk(chunk: Any) -> ChatGenerationChunk:
    text = ""
    if chunk.choices:
        text = chunk.choices[0].delta.content or ""
    message = AIMessageChunk(content=text, response_metadata={"model_name": chunk.model})
    if chunk.usage is not None:
        message.usage_metadata = _usage(chunk.usage)
    return ChatGenerationChunk(message=message)


class AnthropicChat(BaseChatModel):
    """`ChatAnthropic` in miniature: messages through a real `anthropic` client."""

    client: Any = None  # anthropic.Anthropic
    async_client: Any = None  # anthropic.AsyncAnthropic
    model: str = "claude-test"

    @property
    def _llm_type(self) -> str:
        return "anthropic-test"

    def _body(self, messages: list[BaseMessage]) -> dict[str, Any]:
        system = [m for m in messages if isinstance(m, SystemMessage)]
        rest = [m for m in messages if not isinstance(m, SystemMessage)]
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": 64,
            "messages": convert_to_openai_messages(rest),
        }
        if system:
            body["system"] = system[0].text
        return body

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        client: anthropic.Anthropic = self.client
        return _message(client.messages.create(**self._body(messages)))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        client: anthropic.AsyncAnthropic = self.async_client
        return _message(await client.messages.create(**self._body(messages)))


def _message(result: Any) -> ChatResult:
    text = "".join(block.text for block in result.content if block.type == "text")
    usage = result.usage
    message = AIMessage(
        content=text,
        usage_metadata={
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "total_tokens": usage.input_tokens + usage.output_tokens,
        },
        response_metadata={"model_name": result.model, "id": result.id},
    )
    return ChatResult(generations=[ChatGeneration(message=message)])
