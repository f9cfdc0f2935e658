"""A conversation's transcript, read off its LLM runs: what the user said, what the model said.

The integrations record an LLM run as `inputs = {"messages": [...], "system": ...}` and
`outputs` = the assistant message. Chat APIs resend the whole history, so each run's new
messages are those after the previous run's history (its messages and its answer); when
that history does not match (an edited or different thread), those after the input's last
assistant message. Any other shape is shown as JSON text: nothing here raises on odd data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._json import dumps
from .._runs import Run, RunKind, nested_llm_run_ids

Message = dict[str, str]

_ROLE_ALIASES = {"human": "user", "ai": "assistant", "model": "assistant"}
_TEXT_PART_TYPES = {"text", "input_text", "output_text"}


def transcript(runs: Iterable[Run]) -> list[tuple[Run, list[Message]]]:
    """Each LLM run of `runs` (taken in the order given) with the messages it adds.

    Returns:
        `(run, messages)` pairs; each message is `{"run_id", "role", "text"}`, the new input
        messages first, then the answer (or the error).
    """
    turns: list[tuple[Run, list[Message]]] = []
    history: list[Any] | None = None
    last_system: str | None = None
    runs = list(runs)
    nested = nested_llm_run_ids(runs)  # the same model calls as their outer LLM runs
    for run in runs:
        if run.kind is not RunKind.LLM or run.run_id in nested:
            continue
        said: list[tuple[str, str]] = []
        messages, system = _input_messages(run.inputs)
        if system is not None and system != last_system:
            said.append(("system", system))
            last_system = system
        if messages is None:
            if run.inputs is not None:
                said.append(("input", as_text(run.inputs)))
        else:
            said.extend((role_of(m), message_text(m)) for m in _new_messages(messages, history))
        if run.outputs is not None:
            said.append(_answer(run.outputs))
        if run.status == "error":
            said.append(("error", run.error or "error"))
        history = None if messages is None else [*messages, *_as_list(run.outputs)]
        turns.append((run, [{"run_id": run.run_id, "role": r, "text": t} for r, t in said]))
    return turns


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else [value]


def _input_messages(inputs: Any) -> tuple[list[Any] | None, str | None]:
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
    if not isinstance(inputs, Mapping):
        return None, None
    messages = inputs.get("messages")
    system = inputs.get("system")
    system_text = None if system is None else content_text(system)
    return (messages if isinstance(messages, list) else None), system_text


def _new_messages(messages: list[Any], history: list[Any] | None) -> list[Any]:
    """The messages of this request that the previous turn had not shown."""
    if history is None:
        return messages
    if len(history) <= len(messages) and messages[: len(history)] == history:
        return messages[len(history) :]
    for index in range(len(messages) - 1, -1, -1):
        if role_of(messages[index]) == "assistant":
            return messages[index + 1 :]
    return messages


def _answer(outputs: Any) -> tuple[str, str]:
    if isinstance(outputs, Mapping) and ("role" in outputs or "content" in outputs):
        return role_of(outputs, default="assistant"), message_text(outputs)
    if isinstance(outputs, (str, list)):
        return "assistant", content_text(outputs)
    return "output", as_text(outputs)


def role_of(message: Any, default: str = "message") -> str:
    """The role of a chat message dict (`user`, `assistant`, `system`, `tool`, ...)."""
    if not isinstance(message, Mapping):
        return default
    role = message.get("role")
    if not isinstance(role, str):
        role = message.get("type")  # LangChain's serialised messages
    if not isinstance(role, str) or not role:
        return default
    return _ROLE_ALIASES.get(role, role)


def message_text(message: Any) -> str:
    """The readable text of one message: its content, tool calls and tool results."""
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
    if isinstance(text, str) and (kind in _TEXT_PART_TYPES or kind is None):
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
