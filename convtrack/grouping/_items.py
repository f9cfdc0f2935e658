"""OpenAI Responses API items as the chat messages they stand for.

A Responses history (``input`` items, ``response.output`` items, the Agents SDK's
``to_input_list()``) spells one assistant turn as several items: its ``message``, one
``function_call`` per tool call, ``reasoning``. Its Chat Completions twin is one assistant
message with ``tool_calls``. `chat_messages()` rewrites the items so that both group alike:

- ``function_call`` → a tool call ``{"id": call_id, "name", "arguments"}``;
  ``custom_tool_call`` → ``{"id": call_id, "name", "arguments": input}``; a built-in
  tool call (``web_search_call``, ``file_search_call``, ``computer_call``,
  ``code_interpreter_call``, ``image_generation_call``, ``mcp_call``, any ``*_call``,
  ``mcp_list_tools``, ``mcp_approval_request``) → a tool call named by its type, its
  other fields (less ``status``) as the arguments; consecutive assistant items (the
  message and the calls of one turn) are one assistant message;
- ``function_call_output`` and every ``*_output`` item, ``mcp_approval_response`` → a
  ``tool`` message answering its ``call_id``;
- ``reasoning`` → nothing (the model's own state: a chat history has none, and whether an
  app resends it must not change the conversation);
- ``input_image`` parts → the chat ``image_url`` part; ``refusal`` parts → ``refusal``;
- anything else (chat messages, ``item_reference``, ...) → unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from convtrack.grouping._encode import dump_model

_CALLS = frozenset({"mcp_list_tools", "mcp_approval_request", "program"})
_OUTPUTS = frozenset({"mcp_approval_response"})
_SKIPPED = frozenset({"reasoning"})
_NOT_ARGUMENTS = frozenset({"type", "id", "call_id", "status"})
_NOT_OUTPUT = frozenset({"type", "id", "call_id", "status", "approval_request_id"})


def item_kind(item: Mapping[Any, Any]) -> str | None:
    """``"call"``, ``"output"`` or ``"skip"`` for a Responses item that is not a message."""
    kind = item.get("type")
    if not isinstance(kind, str) or kind == "message":
        return None
    if kind in _SKIPPED:
        return "skip"
    if kind.endswith("_call") or kind in _CALLS:
        return "call"
    if kind.endswith("_output") or kind in _OUTPUTS:
        return "output"
    return None


def item_message(item: Mapping[Any, Any]) -> dict[str, Any] | None:
    """The chat message a single call or output item stands for; None for any other."""
    kind = item_kind(item)
    if kind == "call":
        return {"role": "assistant", "tool_calls": [_call(item)]}
    if kind == "output":
        return _output(item)
    return None


def chat_messages(items: Iterable[Any]) -> list[Any]:
    """The history with its Responses items rewritten as chat messages (see the module doc)."""
    out: list[Any] = []
    turn: _Turn | None = None  # the assistant turn that the next call items join
    for raw in items:
        item = _mapping(raw)
        kind = item_kind(item) if item is not None else None
        if kind == "skip":
            continue
        if kind == "call" and item is not None:
            turn = turn or _Turn()
            turn.calls.append(_call(item))
            continue
        if item is not None and item.get("role") == "assistant":
            if turn is not None and turn.raw is None:  # calls so far: this is their text
                turn.raw, turn.item = raw, item
                continue
            _flush(turn, out)
            turn = _Turn(raw, item)
            continue
        _flush(turn, out)
        turn = None
        if kind == "output" and item is not None:
            out.append(_output(item))
        elif item is not None and item.get("type") == "message":
            out.append(_message(raw, item))
        else:
            out.append(raw)
    _flush(turn, out)
    return out


class _Turn:
    """One assistant turn: its message (raw, as a mapping) and the tool calls that follow."""

    __slots__ = ("calls", "item", "raw")

    def __init__(self, raw: Any = None, item: Mapping[Any, Any] | None = None) -> None:
        self.raw = raw
        self.item = item
        self.calls: list[dict[str, Any]] = []

    def message(self) -> Any:
        """The assistant message: the original one when no call joined it."""
        if not self.calls and self.item is not None:
            return _message(self.raw, self.item)
        message: dict[str, Any] = dict(self.item or {"role": "assistant"})
        message["content"] = _content(message.get("content"), message)
        message["tool_calls"] = [*(message.get("tool_calls") or ()), *self.calls]
        return message


def _flush(turn: _Turn | None, out: list[Any]) -> None:
    if turn is not None:
        out.append(turn.message())


def _mapping(raw: Any) -> Mapping[Any, Any] | None:
    if isinstance(raw, Mapping):
        return raw
    return dump_model(raw)


_PART_TYPES = frozenset({"input_image", "refusal"})


def _message(raw: Any, item: Mapping[Any, Any]) -> Any:
    """A message item: unchanged, unless its parts need the chat spelling."""
    content = item.get("content")
    if not isinstance(content, (list, tuple)):
        return raw
    kinds = {(_mapping(part) or {}).get("type") for part in content}
    if kinds.isdisjoint(_PART_TYPES):
        return raw
    message = dict(item)
    message["content"] = _content(content, message)
    return message


def _content(content: Any, message: dict[str, Any]) -> Any:
    """Message content with ``input_image`` parts as ``image_url``, ``refusal`` moved out."""
    if not isinstance(content, (list, tuple)):
        return content
    parts: list[Any] = []
    for raw in content:
        part = _mapping(raw) or {}
        kind = part.get("type")
        if kind == "refusal":
            message["refusal"] = part.get("refusal")
        elif kind == "input_image":
            image = {"url": part.get("image_url") or part.get("file_id")}
            if part.get("detail") is not None:
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        else:
            parts.append(raw)
    return parts


def _call(item: Mapping[Any, Any]) -> dict[str, Any]:
    kind = item.get("type")
    call_id = item.get("call_id") or item.get("id")
    if kind == "function_call":
        return {"id": call_id, "name": item.get("name"), "arguments": item.get("arguments")}
    if kind == "custom_tool_call":
        return {"id": call_id, "name": item.get("name"), "arguments": item.get("input")}
    arguments = {k: v for k, v in item.items() if k not in _NOT_ARGUMENTS and v is not None}
    return {"id": call_id, "name": kind, "arguments": arguments}


def _output(item: Mapping[Any, Any]) -> dict[str, Any]:
    call_id = item.get("call_id") or item.get("approval_request_id") or item.get("id")
    if "output" in item:
        content = item.get("output")
    else:
        content = {k: v for k, v in item.items() if k not in _NOT_OUTPUT and v is not None}
    return {"role": "tool", "tool_call_id": call_id, "content": content}
