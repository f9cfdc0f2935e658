"""Readable text of chat messages, whatever shape an SDK gave them (never raises on odd data).

Shared by the store (search text, previews) and the viewer (transcripts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._json import dumps
from ..grouping._roles import ROLE_ALIASES, role_name

_TEXT_PART_TYPES = {"text", "input_text", "output_text"}


def role_of(message: Any, default: str = "message") -> str:
    """The role of a chat message dict (`user`, `assistant`, `system`, `tool`, ...)."""
    if type(message) is dict:
        role = message.get("role")
        if type(role) is str and role and role not in ROLE_ALIASES:
            return role
    if not isinstance(message, Mapping):
        return default
    role = message.get("role")
    if not isinstance(role, str):
        role = message.get("type")  # LangChain's serialised messages
    if not isinstance(role, str) or not role:
        return default
    return role_name(role)


def message_text(message: Any) -> str:
    """The readable text of one message: its content, tool calls and tool results."""
    if type(message) is dict and len(message) == 2:  # the common {"role", "content": str}
        content = message.get("content")
        if type(content) is str and content and "role" in message:
            return content
    if not isinstance(message, Mapping):
        return as_text(message)
    lines = []
    content = message.get("content")
    if content is not None:
        lines.append(content_text(content))
    for call in _list(message.get("tool_calls")):
        lines.append(_tool_call_text(call))
    function_call = message.get("function_call")
    if function_call is not None:
        lines.append(_tool_call_text({"function": function_call}))
    text = "\n".join(line for line in lines if line)
    if text:
        return text
    rest = {k: v for k, v in message.items() if k != "role" and v not in (None, "", [], {})}
    return as_text(rest) if rest else ""


def content_text(content: Any) -> str:
    """The text of a message's content: a string, or a list of content parts or blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_part_text(part) for part in content)
    return as_text(content)


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if not isinstance(part, Mapping):
        return as_text(part)
    kind = part.get("type")
    text = part.get("text")
    if isinstance(text, str) and (
        kind is None or (isinstance(kind, str) and kind in _TEXT_PART_TYPES)
    ):
        return text
    if kind == "tool_use":
        return f"[tool call] {part.get('name', '?')}({as_text(part.get('input'))})"
    if kind == "tool_result":
        return f"[tool result] {content_text(part.get('content'))}"
    return as_text(part)


def _tool_call_text(call: Any) -> str:
    if not isinstance(call, Mapping):
        return f"[tool call] {as_text(call)}"
    function = call.get("function")
    if isinstance(function, Mapping):
        name, arguments = function.get("name", "?"), function.get("arguments")
    else:
        name, arguments = call.get("name", "?"), call.get("args", call.get("arguments"))
    args = "" if arguments is None else as_text(arguments)
    return f"[tool call] {name if isinstance(name, str) else as_text(name)}({args})"


def _list(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list) else ()


def as_text(value: Any) -> str:
    """A string as it is; anything else as JSON text."""
    return value if isinstance(value, str) else dumps(value)


def input_messages(inputs: Any) -> tuple[list[Any] | None, str | None]:
    """The message list of an LLM run's inputs (None when there is none) and its system text.

    A list of dicts is a message list; a prompt string, or a list of them (the arguments of a
    traced function), counts as user messages.
    """
    if isinstance(inputs, str):
        inputs = [inputs]
    if isinstance(inputs, list) and inputs:
        if all(isinstance(item, str) for item in inputs):
            return [{"role": "user", "content": item} for item in inputs], None
        if all(isinstance(item, Mapping) for item in inputs):
            return inputs, None
    if type(inputs) is not dict and not isinstance(inputs, Mapping):
        return None, None
    messages = inputs.get("messages")
    system = inputs.get("system")
    system_text = None if system is None else content_text(system)
    return (messages if isinstance(messages, list) else None), system_text


def answer_text(outputs: Any) -> tuple[str, str]:
    """The role and text of an LLM run's answer (`output` for anything else)."""
    if _is_message(outputs):
        return role_of(outputs, default="assistant"), message_text(outputs)
    return ("assistant" if isinstance(outputs, (str, list)) else "output"), answer_only(outputs)


def answer_only(outputs: Any) -> str:
    """The text of `answer_text`, its role not read (what the store indexes for each run)."""
    if _is_message(outputs):
        return message_text(outputs)
    if isinstance(outputs, (str, list)):
        return content_text(outputs)
    return as_text(outputs)


def _is_message(outputs: Any) -> bool:
    return (type(outputs) is dict or isinstance(outputs, Mapping)) and (
        "role" in outputs or "content" in outputs
    )
