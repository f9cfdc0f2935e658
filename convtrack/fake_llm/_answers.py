"""The fake server's answers: what each API returns, as its real event shapes."""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

_FAIL = re.compile(r"\[fail:(\d{3})\]")
_STREAM_ERROR = "[stream-error]"
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error"}
_ERROR_TYPES |= {429: "rate_limit_error", 529: "overloaded_error"}
_CREATED = 1_700_000_000


class Owner(Protocol):
    """What the answers read of the server: response ids and the Responses API's chains."""

    _lock: threading.Lock
    _turns: dict[str, int]

    def _next_id(self) -> int: ...


@dataclass
class _Answer:
    text: str | None
    tool: dict[str, Any] | None  # {"id", "name", "arguments"}: a tool call instead of text
    input_tokens: int
    output_tokens: int
    fail_stream: bool


def _is_text_delta(data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    if data.get("type") in ("content_block_delta", "response.output_text.delta"):
        return True
    choices = data.get("choices")
    return bool(choices and choices[0].get("delta", {}).get("content"))


def _stream_error(api: str) -> tuple[str | None, Any]:
    """The event a failing stream sends in the middle, as each API does."""
    if api == "messages":
        return "error", {"type": "error", "error": {"type": "overloaded_error", "message": "boom"}}
    if api == "responses":
        error = {"type": "error", "code": "server_error", "message": "stream failed"}
        return "error", {**error, "param": None, "sequence_number": 99}
    return None, {"error": {"message": "stream failed", "type": "server_error"}}


def _final(events: Iterator[tuple[str | None, Any]]) -> Any:
    for name, data in events:
        if name == "final":
            return data
    raise AssertionError("unreachable: every builder ends with its final object")


# -- reading requests ---------------------------------------------------------------------


def _text(content: Any) -> str:
    """The text of a message content: a string, or the text of its parts/blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [_text(p.get("text", p.get("content"))) for p in content if isinstance(p, dict)]
        return " ".join(p for p in parts if p)
    return ""


def _read(api: str, body: dict[str, Any], owner: Owner) -> tuple[list[str], str, int, Any]:
    """(all texts, last user text, turn number, tool result or None) of a request."""
    if api == "responses":
        raw = body.get("input")
        items = [{"role": "user", "content": raw}] if isinstance(raw, str) else raw or []
        turn = owner._turns.get(str(body.get("previous_response_id")), 0)
        messages = [i for i in items if isinstance(i, dict)]
        ends_with_output = messages and messages[-1].get("type") == "function_call_output"
        result = _text(messages[-1].get("output")) if ends_with_output else None
    else:
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        result = _tool_result(messages[-1]) if messages else None
        turn = 0
    texts = [_text(m.get("content")) for m in messages]
    users = [m for m in messages if m.get("role") == "user"]
    last = _text(users[-1].get("content")) if users else ""
    return texts, last, turn + max(len(users), 1), result


def _tool_result(message: dict[str, Any]) -> str | None:
    if message.get("role") == "tool":
        return _text(message.get("content"))
    content = message.get("content")
    if message.get("role") == "user" and isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                return _text(block.get("content"))
    return None


def _tool_name(tool: Any) -> str:
    if isinstance(tool, dict):
        function = tool.get("function")
        name = function.get("name") if isinstance(function, dict) else tool.get("name")
        if isinstance(name, str):
            return name
    return "tool"


def _pieces(text: str) -> list[str]:
    """Split an answer into stream deltas (a word and its trailing space each)."""
    return re.findall(r"\S+\s*|\s+", text) or [text]


# -- the three APIs: each builder yields the stream's events, then ("final", the JSON) ------


def _chat(
    owner: Owner, body: dict[str, Any], a: _Answer, model: str, turn: int
) -> Iterator[tuple[str | None, Any]]:
    head = {"id": f"chatcmpl-{owner._next_id():06d}", "created": _CREATED, "model": model}
    head["system_fingerprint"] = "fp_fake"
    usage = {"prompt_tokens": a.input_tokens, "completion_tokens": a.output_tokens}
    usage["total_tokens"] = a.input_tokens + a.output_tokens
    with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    extra = {"usage": None} if with_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> Any:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**head, "object": "chat.completion.chunk", "choices": [choice], **extra}

    tool_calls = None
    if a.tool is not None:
        args = json.dumps(a.tool["arguments"])
        call = {"id": a.tool["id"], "type": "function"}
        tool_calls = [{**call, "function": {"name": a.tool["name"], "arguments": args}}]
        start = {**call, "index": 0, "function": {"name": a.tool["name"], "arguments": ""}}
        yield None, chunk({"role": "assistant", "content": None, "tool_calls": [start]})
        for piece in (args[: len(args) // 2], args[len(args) // 2 :]):
            yield None, chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
        finish = "tool_calls"
    else:
        yield None, chunk({"role": "assistant", "content": "", "refusal": None})
        for piece in _pieces(a.text or ""):
            yield None, chunk({"content": piece})
        finish = "stop"
    yield None, chunk({}, finish)
    if with_usage:
        yield None, {**head, "object": "chat.completion.chunk", "choices": [], "usage": usage}
    yield None, "[DONE]"
    message: dict[str, Any] = {"role": "assistant", "content": a.text, "annotations": []}
    if tool_calls:
        message["tool_calls"] = tool_calls
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
    yield "final", {**head, "object": "chat.completion", "choices": [choice], "usage": usage}


def _messages(
    owner: Owner, body: dict[str, Any], a: _Answer, model: str, turn: int
) -> Iterator[tuple[str | None, Any]]:
    usage = {"input_tokens": a.input_tokens, "output_tokens": a.output_tokens}
    usage |= {"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    message: dict[str, Any] = {"id": f"msg_{owner._next_id():06d}", "type": "message"}
    message |= {"role": "assistant", "model": model, "content": [], "stop_reason": None}
    message |= {"stop_sequence": None, "usage": {**usage, "output_tokens": 1}}
    yield "message_start", {"type": "message_start", "message": message}
    if a.tool is not None:
        block: dict[str, Any] = {"type": "tool_use", "id": "toolu_" + a.tool["id"][5:]}
        block |= {"name": a.tool["name"], "input": {}}
        yield (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": block},
        )
        args = json.dumps(a.tool["arguments"])
        for piece in (args[: len(args) // 2], args[len(args) // 2 :]):
            delta = {"type": "input_json_delta", "partial_json": piece}
            yield "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
        final_block, stop = {**block, "input": a.tool["arguments"]}, "tool_use"
    else:
        start = {"type": "text", "text": ""}
        yield (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": start},
        )
        yield "ping", {"type": "ping"}
        for piece in _pieces(a.text or ""):
            delta = {"type": "text_delta", "text": piece}
            yield "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
        final_block, stop = {"type": "text", "text": a.text}, "end_turn"
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}
    end = {"stop_reason": stop, "stop_sequence": None}
    out = {"output_tokens": a.output_tokens}
    yield "message_delta", {"type": "message_delta", "delta": end, "usage": out}
    yield "message_stop", {"type": "message_stop"}
    usage_final = {**usage, "service_tier": "standard"}
    yield "final", {**message, "content": [final_block], "stop_reason": stop, "usage": usage_final}


def _responses(
    owner: Owner, body: dict[str, Any], a: _Answer, model: str, turn: int
) -> Iterator[tuple[str | None, Any]]:
    rid = f"resp_{owner._next_id():06d}"
    with owner._lock:
        if len(owner._turns) > 10_000:
            owner._turns.clear()
        owner._turns[rid] = turn
    conversation = body.get("conversation")
    if isinstance(conversation, str):
        conversation = {"id": conversation}
    resp: dict[str, Any] = {"id": rid, "object": "response", "created_at": _CREATED}
    resp |= {"model": model, "status": "in_progress", "output": [], "error": None}
    resp |= {"incomplete_details": None, "instructions": body.get("instructions")}
    resp |= {"metadata": body.get("metadata") or {}, "parallel_tool_calls": True}
    resp |= {"previous_response_id": body.get("previous_response_id"), "tools": []}
    resp |= {"temperature": 1.0, "top_p": 1.0, "tool_choice": "auto", "usage": None}
    resp |= {"conversation": conversation, "text": {"format": {"type": "text"}}}
    seq = itertools.count()

    def event(kind: str, **fields: Any) -> tuple[str, Any]:
        return kind, {"type": kind, "sequence_number": next(seq), **fields}

    yield event("response.created", response=resp)
    yield event("response.in_progress", response=resp)
    if a.tool is not None:
        args = json.dumps(a.tool["arguments"])
        item = {"type": "function_call", "id": "fc_" + a.tool["id"][5:], "call_id": a.tool["id"]}
        item |= {"name": a.tool["name"], "arguments": "", "status": "in_progress"}
        yield event("response.output_item.added", output_index=0, item=item)
        for piece in (args[: len(args) // 2], args[len(args) // 2 :]):
            yield event(
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=0,
                delta=piece,
            )
        yield event(
            "response.function_call_arguments.done",
            item_id=item["id"],
            output_index=0,
            arguments=args,
        )
        item = {**item, "arguments": args, "status": "completed"}
    else:
        text = a.text or ""
        item = {"type": "message", "id": f"msg_{rid[5:]}", "status": "in_progress"}
        item |= {"role": "assistant", "content": []}
        yield event("response.output_item.added", output_index=0, item=item)
        where = {"item_id": item["id"], "output_index": 0, "content_index": 0}
        part: dict[str, Any] = {"type": "output_text", "text": "", "annotations": []}
        yield event("response.content_part.added", **where, part=part)
        for piece in _pieces(text):
            yield event("response.output_text.delta", **where, delta=piece, logprobs=[])
        yield event("response.output_text.done", **where, text=text, logprobs=[])
        part = {**part, "text": text}
        yield event("response.content_part.done", **where, part=part)
        item = {**item, "content": [part], "status": "completed"}
    yield event("response.output_item.done", output_index=0, item=item)
    usage: dict[str, Any] = {"input_tokens": a.input_tokens, "output_tokens": a.output_tokens}
    usage |= {"total_tokens": a.input_tokens + a.output_tokens}
    usage |= {"input_tokens_details": {"cached_tokens": 0}}
    usage |= {"output_tokens_details": {"reasoning_tokens": 0}}
    final = {**resp, "status": "completed", "output": [item], "usage": usage}
    yield event("response.completed", response=final)
    yield "final", final


_BUILDERS = {"chat": _chat, "messages": _messages, "responses": _responses}
