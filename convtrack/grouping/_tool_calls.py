"""Tool calls in one shape, from every SDK's: OpenAI's functions and custom tools, Anthropic's
`tool_use` blocks, LangChain's `tool_calls`, legacy `function_call`; and the small value
helpers canonicalisation shares."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from convtrack.grouping._encode import dump_model


def tool_calls(listed: object, from_blocks: Iterable[Any]) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    if isinstance(listed, (list, tuple)):
        calls.extend(tool_call(call) for call in listed)
    seen = {call["id"] for call in calls if "id" in call}
    for block in from_blocks:
        call = tool_call(block)
        if "id" not in call or call["id"] not in seen:
            calls.append(call)
    return calls


def tool_call(raw: object) -> dict[str, Any]:
    call = as_mapping(raw)
    if not isinstance(call, Mapping):
        return {"raw": call}
    function = as_mapping(call.get("function"))
    custom = as_mapping(call.get("custom"))
    if isinstance(function, Mapping):  # OpenAI chat completions
        name, args = function.get("name"), function.get("arguments")
    elif isinstance(custom, Mapping):  # OpenAI custom tools
        name, args = custom.get("name"), custom.get("input")
    else:  # LangChain args, Anthropic tool_use input, legacy function_call arguments
        name = call.get("name")
        args = call.get("args", call.get("input", call.get("arguments")))
    out: dict[str, Any] = {}
    if not empty(call.get("id")):
        out["id"] = call["id"]
    if not empty(name):
        out["name"] = name
    out["arguments"] = _arguments(args)
    return out


def _arguments(args: object) -> object:
    """Tool arguments: a JSON string is parsed; no arguments (None, "", "{}") is ``{}``."""
    if isinstance(args, str):
        if not args.strip():
            return {}
        try:
            args = json.loads(args)
        except (ValueError, RecursionError):
            return args
    if args is None:
        return {}
    return args


def as_mapping(value: object) -> Any:
    """Return a pydantic-style object's ``model_dump()``, anything else unchanged."""
    if value is None or isinstance(value, (str, Mapping, list, tuple, int, float)):
        return value
    dumped = dump_model(value)
    return value if dumped is None else dumped


def empty(value: object) -> bool:
    return value is None or (isinstance(value, (str, list, tuple, dict)) and not value)
