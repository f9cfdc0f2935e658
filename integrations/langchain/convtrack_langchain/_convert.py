"""LangChain values as plain data: messages, documents, prompts, token usage, names, models.

Runs hold plain JSON-able data (an LLM run: ``{"messages": [...]}`` in, the assistant
message as an OpenAI-style dict out), so nothing here keeps a reference to the user's
objects. Nothing here raises on odd values: what is not understood is passed to the core's
own JSON conversion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ToolMessage,
    convert_to_openai_messages,
)
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.prompt_values import PromptValue

from convtrack.grouping import role_name
from convtrack.instrumentation import report, to_jsonable

_MAX_DEPTH = 12
_PRIMITIVES = (str, int, float, bool)
_SIMPLE_ROLES = frozenset({"user", "system"})
_PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})
# LangChain run metadata that describes the call, not the application: kept out of runs.
_SKIPPED_METADATA = frozenset({"lc_versions", "ls_integration"})


def message(value: BaseMessage) -> dict[str, Any]:
    """One LangChain message as an OpenAI-style dict (`role`, `content`, `tool_calls`...)."""
    content = value.content
    role = role_name(value.type)
    if isinstance(content, str):  # the common case, fast (no pydantic dump)
        if role in _SIMPLE_ROLES or (
            role == "assistant" and isinstance(value, AIMessage) and not value.tool_calls
        ):
            out: dict[str, Any] = {"role": role, "content": content}
            if value.name:
                out["name"] = value.name
            return out
        if role == "tool" and isinstance(value, ToolMessage):
            return {"role": "tool", "content": content, "tool_call_id": value.tool_call_id}
    try:
        converted = convert_to_openai_messages(value)  # content blocks, tool calls...
        if isinstance(converted, dict):
            return converted
    except Exception:  # unusual content: fall back to the plain fields below
        pass
    out = {"role": role or value.type, "content": to_jsonable(content)}
    tool_calls = getattr(value, "tool_calls", None)
    if tool_calls:
        out["tool_calls"] = to_jsonable(tool_calls)
    return out


def messages(values: Sequence[BaseMessage]) -> list[dict[str, Any]] | None:
    """A list of LangChain messages as OpenAI-style dicts (None, reported, if that fails)."""
    try:
        return [message(m) for m in values]
    except Exception as exc:
        report("langchain: reading messages", exc)
        return None


def document(value: Document) -> dict[str, Any]:
    """A retrieved document as `{"page_content", "metadata"}` (plus its id when it has one)."""
    out: dict[str, Any] = {"page_content": value.page_content}
    if value.metadata:
        out["metadata"] = to_jsonable(value.metadata)
    doc_id = getattr(value, "id", None)
    if doc_id:
        out["id"] = doc_id
    return out


def plain(value: Any) -> Any:
    """Any chain input or output as plain JSON-able data (None, reported, if that fails)."""
    try:
        return _plain(value, 0)
    except Exception as exc:
        report("langchain: reading inputs or outputs", exc)
        return None


def _plain(value: Any, depth: int) -> Any:
    """`plain()`: messages and documents as readable dicts, containers walked."""
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return value  # the sinks' JSON encoding deals with odd floats and strings
    if depth > _MAX_DEPTH:
        return "<too deep>"
    if kind is dict:  # the usual containers first: isinstance on ABCs is slow
        return {str(k): _plain(v, depth + 1) for k, v in list(value.items())}
    if kind is list:
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, _PRIMITIVES):
        return value
    if isinstance(value, BaseMessage):
        return message(value)
    if isinstance(value, Document):
        return document(value)
    if isinstance(value, PromptValue):
        return {"messages": [message(m) for m in value.to_messages()]}
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in list(value.items())}
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    return to_jsonable(value)


def answer(response: LLMResult) -> tuple[Any, BaseMessage | None]:
    """The first generation of an LLM result: (plain output, the message when a chat model)."""
    if not response.generations or not response.generations[0]:
        return None, None
    generation = response.generations[0][0]
    if isinstance(generation, ChatGeneration):
        return message(generation.message), generation.message
    return {"role": "assistant", "content": generation.text}, None


def usage(response: LLMResult, answered: BaseMessage | None) -> dict[str, int] | None:
    """Token usage as `input_tokens`/`output_tokens`/`total_tokens`, where the model reports it.

    From the message's `usage_metadata` (LangChain's standard), else the `llm_output`'s
    `token_usage`/`usage` (OpenAI's `prompt_tokens`/`completion_tokens` names normalised).
    """
    reported = getattr(answered, "usage_metadata", None)
    if not reported:
        output = response.llm_output or {}
        reported = output.get("token_usage") or output.get("usage")
    if not isinstance(reported, Mapping):
        return None
    counts = {
        "input_tokens": _count(reported, "input_tokens", "prompt_tokens"),
        "output_tokens": _count(reported, "output_tokens", "completion_tokens"),
        "total_tokens": _count(reported, "total_tokens", "total_tokens"),
    }
    found = {key: value for key, value in counts.items() if value is not None}
    if not found:
        return None
    if "total_tokens" not in found and "input_tokens" in found and "output_tokens" in found:
        found["total_tokens"] = found["input_tokens"] + found["output_tokens"]
    return found


def _count(reported: Mapping[str, Any], name: str, alias: str) -> int | None:
    value = reported.get(name, reported.get(alias))
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def response_model(response: LLMResult, answered: BaseMessage | None) -> str | None:
    """The model the response reports (`model_name`/`model`), if any."""
    for source in (response.llm_output, getattr(answered, "response_metadata", None)):
        if isinstance(source, Mapping):
            for key in ("model_name", "model"):
                value = source.get(key)
                if isinstance(value, str) and value:
                    return value
    return None


def request_model(metadata: Mapping[str, Any] | None, params: Any) -> str | None:
    """The model a request names: LangChain's `ls_model_name`, else the invocation params'."""
    if metadata:
        value = metadata.get("ls_model_name")
        if isinstance(value, str) and value:
            return value
    if isinstance(params, Mapping):
        for key in ("model", "model_name", "model_id"):
            value = params.get(key)
            if isinstance(value, str) and value:
                return value
    return None


def run_name(serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any], default: str) -> str:
    """The run's name as LangChain's tracers compute it: `name=`, else the serialized class."""
    name = kwargs.get("name")
    if isinstance(name, str) and name:
        return name
    if isinstance(serialized, Mapping):
        name = serialized.get("name")
        if isinstance(name, str) and name:
            return name
        ident = serialized.get("id")
        if isinstance(ident, list) and ident and isinstance(ident[-1], str):
            return ident[-1]
    return default


def run_metadata(
    metadata: Mapping[str, Any] | None, tags: Sequence[str] | None, run_type: Any = None
) -> dict[str, Any] | None:
    """What a run keeps of LangChain's metadata: its scalar values, the tags, the run type."""
    out: dict[str, Any] = {}
    if metadata:
        for key, value in metadata.items():
            if isinstance(value, _PRIMITIVES) and key not in _SKIPPED_METADATA:
                out[key] = value
    if tags:
        out["tags"] = list(tags)
    if isinstance(run_type, str) and run_type:
        out["run_type"] = run_type
    return out or None
