"""Message canonicalisation: one form for every way of writing the same chat message.

A message (a dict, an OpenAI or Anthropic SDK object, a LangChain ``BaseMessage``)
becomes a canonical dict holding only the fields that carry meaning in a chat
history, each present only when not empty:

- ``role``: LangChain types map ``human``→``user``, ``ai``→``assistant``,
  ``system``, ``tool``; the dict roles ``human``/``ai`` too. ``developer`` stays
  distinct from ``system``: they are distinct roles in the OpenAI API, and an app
  sends the same role on every turn, so equating them would gain nothing.
- ``content``: ``None``/``""``/``[]`` are absent; a list of only text parts (strings,
  ``text``/``input_text``/``output_text`` blocks) is their joined text, so ``"hi"``
  == ``[{"type": "text", "text": "hi"}]``; tool-use blocks move to ``tool_calls``;
  Anthropic ``tool_result`` blocks keep ``tool_use_id``, their (canonical) content
  and ``is_error`` when true; other parts keep their non-empty fields, less
  ``cache_control`` (a request hint, not content).
- ``tool_calls``: each ``{"id", "name", "arguments"}`` whatever the shape (OpenAI
  ``function``, LangChain ``args``, Anthropic ``tool_use`` ``input``), arguments
  parsed when a JSON string; calls listed twice (LangChain keeps Anthropic blocks
  in ``content`` and in ``tool_calls``) count once.
- ``name``, ``tool_call_id``, ``refusal``, ``function_call``, ``audio`` (its id).
- OpenAI Responses items: a ``function_call`` (or any tool call item) is an assistant
  message with that tool call, a ``function_call_output`` (or any output item) a ``tool``
  message (see ``_items``, whose ``chat_messages()`` also joins the items of one
  assistant turn into one message, as its Chat Completions twin has it).

Everything else (ids, usage, model, stop reasons, ``annotations``, provider
metadata) is ignored. A value that is not a message is encoded as it is, marked
as such.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from convtrack.grouping._encode import dump_model, encode_value
from convtrack.grouping._items import item_message
from convtrack.grouping._roles import LANGCHAIN_TYPES, ROLE_ALIASES
from convtrack.grouping._tool_calls import as_mapping, empty, tool_call, tool_calls

_ROLE_ALIASES = ROLE_ALIASES
_LANGCHAIN_TYPES = LANGCHAIN_TYPES
_TEXT_TYPES = frozenset({"text", "input_text", "output_text"})
_TOOL_USE_TYPES = frozenset({"tool_use", "tool_call"})
_DROPPED_PART_KEYS = frozenset({"cache_control"})
_EMPTY: tuple[Any, ...] = ()
_MAX_NESTING = 16  # content/tool_result/part nesting understood; deeper is encoded as is


def canonical_message(message: object) -> dict[str, Any] | None:
    """Return the canonical form of a chat message (see the module docstring).

    Args:
        message: a dict, an OpenAI/Anthropic SDK object or a LangChain message.

    Returns:
        A dict of the message's meaningful, non-empty fields, or None when
        `message` is not recognisable as a message.
    """
    fields = _fields(message)
    if fields is None:
        return None
    out: dict[str, Any] = {}
    role = fields.get("role")
    if role is None:
        kind = fields.get("type")
        role = _LANGCHAIN_TYPES.get(kind) if isinstance(kind, str) else None
    elif isinstance(role, str):
        role = str.__str__(role)
        role = _ROLE_ALIASES.get(role, role)
    if not empty(role):
        out["role"] = role
    content, block_calls = canonical_content(fields.get("content"))
    if content is not None:
        out["content"] = content
    listed = fields.get("tool_calls")
    if listed or block_calls:
        calls = tool_calls(listed, block_calls)
        if calls:
            out["tool_calls"] = calls
    for key in ("name", "tool_call_id", "refusal"):
        value = fields.get(key)
        if not empty(value):
            out[key] = value
    function_call = fields.get("function_call")
    if not empty(function_call):
        out["function_call"] = tool_call(function_call)
    audio = fields.get("audio")
    if audio is not None:
        audio = as_mapping(audio)
        if isinstance(audio, Mapping) and "id" in audio:
            audio = audio["id"]
        if not empty(audio):
            out["audio"] = audio
    return out


def message_text(message: object) -> tuple[str, bool]:
    """Return (canonical text, is an assistant message) for one message; never raises."""
    try:
        canon = canonical_message(message)
        if canon is not None:
            return encode_value(canon), canon.get("role") == "assistant"
    except Exception:
        pass
    return "?" + encode_value(message), False


def canonical_bytes(message: object) -> bytes:
    """Return the bytes hashed for one message: equal exactly when the messages mean the same.

    Args:
        message: a message in any supported shape (dict, SDK object, LangChain message),
            or anything else (encoded as is, marked as not a message; never raises).
    """
    return message_text(message)[0].encode("utf-8", "surrogatepass")


def system_text(system: object) -> str | None:
    """Return the canonical text of an Anthropic-style ``system`` parameter, or None."""
    if system is None:
        return None
    try:
        content, _ = canonical_content(system)
    except Exception:
        return "?" + encode_value(system)
    if content is None:
        return None
    return encode_value({"role": "system", "content": content})


def canonical_content(value: object, depth: int = 0) -> tuple[Any, Iterable[Any]]:
    """Return (canonical content or None, tool-use blocks found in it)."""
    if value is None:
        return None, _EMPTY
    if isinstance(value, str):
        return (str.__str__(value) or None), _EMPTY
    if isinstance(value, (list, tuple)):
        items: Iterable[Any] = value
    elif isinstance(value, Mapping) or dump_model(value) is not None:
        items = (value,)
    else:
        return value, _EMPTY
    if depth > _MAX_NESTING:
        return list(items), _EMPTY
    parts: list[Any] = []
    calls: list[Any] = []
    text: list[str] = []
    for raw in items:
        item = as_mapping(raw)
        kind = item.get("type") if isinstance(item, Mapping) else None
        if isinstance(item, str):
            text.append(item)
        elif kind in _TEXT_TYPES and isinstance(item.get("text"), str):
            text.append(item["text"])
        elif kind in _TOOL_USE_TYPES:
            calls.append(item)
        else:
            _flush_text(text, parts)
            if kind == "tool_result":
                parts.append(_tool_result(item, depth + 1))
            elif isinstance(item, Mapping):
                parts.append(_part(item))
            else:
                parts.append(item)
    _flush_text(text, parts)
    if not parts:
        return None, calls
    if len(parts) == 1 and isinstance(parts[0], _TextPart):
        return parts[0].text, calls
    return [
        {"type": "text", "text": p.text} if isinstance(p, _TextPart) else p for p in parts
    ], calls


class _TextPart:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _flush_text(text: list[str], parts: list[Any]) -> None:
    if text:
        joined = "".join(map(str.__str__, text))
        text.clear()
        if joined:
            parts.append(_TextPart(joined))


def _tool_result(block: Mapping[Any, Any], depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "tool_result"}
    if not empty(block.get("tool_use_id")):
        out["tool_use_id"] = block["tool_use_id"]
    content, _ = canonical_content(block.get("content"), depth)
    if content is not None:
        out["content"] = content
    if block.get("is_error"):
        out["is_error"] = True
    return out


def _part(block: Mapping[Any, Any]) -> dict[Any, Any]:
    """A non-text content part: its non-empty fields, ``image_url`` strings as ``{"url"}``."""
    out = {k: _clean(v, 0) for k, v in block.items() if k not in _DROPPED_PART_KEYS}
    if isinstance(out.get("image_url"), str):
        out["image_url"] = {"url": out["image_url"]}
    return {k: v for k, v in out.items() if not empty(v)}


def _clean(value: Any, depth: int) -> Any:
    """Drop None/empty values from nested mappings (SDK dumps spell absent fields None)."""
    value = as_mapping(value)
    if depth >= _MAX_NESTING:
        return value
    if isinstance(value, Mapping):
        cleaned = {k: _clean(v, depth + 1) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if not empty(v)}
    if isinstance(value, (list, tuple)):
        return [_clean(v, depth + 1) for v in value]
    return value


def _fields(message: object) -> Mapping[Any, Any] | None:
    if isinstance(message, Mapping):
        if "role" in message or "content" in message or message.get("type") in _LANGCHAIN_TYPES:
            return message
        return item_message(message)
    # pydantic models (SDK objects, LangChain messages) declare their fields on the class:
    # probing a missing attribute on an instance costs microseconds, a class lookup does not
    declared = getattr(type(message), "model_fields", None)
    if isinstance(declared, Mapping):
        if "additional_kwargs" in declared and "type" in declared:
            return _langchain_fields(message)
    elif isinstance(getattr(message, "type", None), str) and hasattr(message, "additional_kwargs"):
        return _langchain_fields(message)
    dumped = dump_model(message)
    if dumped is None:
        return None
    if "role" in dumped or "content" in dumped:
        return dumped
    return item_message(dumped)


def _langchain_fields(message: Any) -> dict[str, Any]:
    """The fields of a LangChain ``BaseMessage`` (duck-typed; langchain is never imported)."""
    kind = message.type
    role = getattr(message, "role", None) if kind in ("chat", "ChatMessageChunk") else None
    if role is None:
        role = _LANGCHAIN_TYPES.get(kind, kind)
    extra = getattr(message, "additional_kwargs", None)
    extra = extra if isinstance(extra, Mapping) else {}
    calls = getattr(message, "tool_calls", None) or extra.get("tool_calls")
    return {
        "role": role,
        "content": getattr(message, "content", None),
        "name": getattr(message, "name", None),
        "tool_calls": calls,
        "tool_call_id": getattr(message, "tool_call_id", None),
        "function_call": extra.get("function_call"),
    }
