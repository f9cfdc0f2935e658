"""A local, deterministic OpenAI- and Anthropic-compatible server for examples, demos and tests.

``FakeLLMServer`` serves real HTTP on 127.0.0.1 (a free port) from a daemon thread, with
the standard library only, so the official ``openai`` and ``anthropic`` clients talk to it
unchanged::

    from convtrack.fake_llm import FakeLLMServer

    with FakeLLMServer() as server:
        client = openai.OpenAI(base_url=server.openai_base_url, api_key="fake")
        client.chat.completions.create(model="gpt-fake", messages=[...])
        claude = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="fake")

Endpoints: ``POST /v1/chat/completions``, ``POST /v1/responses`` (OpenAI) and
``POST /v1/messages`` (Anthropic), each with ``stream: true`` answered as server-sent
events of the real shapes (chunks ending with ``[DONE]``; Responses and Messages events).

Answers are deterministic: ``"echo #N: <last user text>"``, N being the turn (the number
of user messages, or the length of a ``previous_response_id`` chain). When the request
offers ``tools`` and ends with a user message, the answer is a call of the first tool
with ``{"query": <last user text>}``; when the request ends with a tool result the answer
is ``"tool said: <result>"``. Usage counts words. Errors: ``fail_next(status)``, or a user
message containing ``[fail:429]`` (any status); ``[stream-error]`` makes a stream fail
after its first text delta. Every request is logged in ``requests``.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeLLMServer", "FakeRequest"]

_FAIL = re.compile(r"\[fail:(\d{3})\]")
_STREAM_ERROR = "[stream-error]"
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error"}
_ERROR_TYPES |= {429: "rate_limit_error", 529: "overloaded_error"}
_CREATED = 1_700_000_000


@dataclass(frozen=True)
class FakeRequest:
    """One request the server received: method, path, headers (lower-case names), JSON body."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any


@dataclass
class _Answer:
    text: str | None
    tool: dict[str, Any] | None  # {"id", "name", "arguments"}: a tool call instead of text
    input_tokens: int
    output_tokens: int
    fail_stream: bool


class FakeLLMServer:
    """A local OpenAI/Anthropic-compatible HTTP server; a context manager (start/stop).

    Args:
        model: the model reported in answers; default: the model the request names.
        delay: seconds to wait between two streamed events (0: as fast as possible).
    """

    def __init__(self, *, model: str | None = None, delay: float = 0.0) -> None:
        self.model = model
        self.delay = delay
        self._lock = threading.Lock()
        self._log: list[FakeRequest] = []
        self._failures: deque[tuple[int, str | None]] = deque()
        self._turns: dict[str, int] = {}  # Responses API: response id -> its turn number
        self._ids = itertools.count(1)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeLLMServer:
        """Start serving (on a free port of 127.0.0.1, in a daemon thread); returns self."""
        if self._httpd is None:
            httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
            httpd.owner = self
            self._httpd = httpd
            self._thread = threading.Thread(
                target=httpd.serve_forever, args=(0.05,), name="convtrack-fake-llm", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses, log, failures -----------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (the server must be started)."""
        if self._httpd is None:
            raise RuntimeError("FakeLLMServer is not started: use `with FakeLLMServer() as s:`")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def openai_base_url(self) -> str:
        """The ``base_url`` for ``openai.OpenAI`` / ``AsyncOpenAI``."""
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """The ``base_url`` for ``anthropic.Anthropic`` / ``AsyncAnthropic``."""
        return self.url

    @property
    def requests(self) -> list[FakeRequest]:
        """The requests received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._log)

    def clear(self) -> None:
        """Forget the logged requests and the failures `fail_next()` still had queued."""
        with self._lock:
            self._log.clear()
            self._failures.clear()

    def fail_next(self, status: int = 500, message: str | None = None, *, times: int = 1) -> None:
        """Answer the next `times` requests with an HTTP error `status` (the API's error body)."""
        with self._lock:
            self._failures.extend([(status, message)] * times)

    # -- request handling (called on the server's threads) ---------------------------------

    def _record(self, request: FakeRequest) -> tuple[int, str | None] | None:
        with self._lock:
            self._log.append(request)
            return self._failures.popleft() if self._failures else None

    def _next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def _answer(
        self, texts: list[str], last: str, turn: int, tool_result: str | None, tools: Any
    ) -> _Answer:
        words = sum(len(t.split()) for t in texts) + 3 * len(texts)
        if tool_result is not None:
            text: str | None = f"tool said: {tool_result}"
            tool = None
        elif isinstance(tools, list) and tools:
            text, tool = None, {"name": _tool_name(tools[0]), "arguments": {"query": last}}
            tool["id"] = f"call_{self._next_id():06d}"
        else:
            text, tool = f"echo #{turn}: {last}", None
        out = len((text or json.dumps(tool)).split())
        return _Answer(text, tool, max(words, 1), max(out, 1), _STREAM_ERROR in last)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: FakeLLMServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client closing its kept-alive connection is normal: print only real errors."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr log (requests are in `FakeLLMServer.requests`)."""

    def do_POST(self) -> None:
        """Serve one API call."""
        owner = self.server.owner
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = self.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in self.headers.items()}
        failure = owner._record(FakeRequest("POST", path, headers, body))
        api = {"/v1/chat/completions": "chat", "/v1/responses": "responses"}.get(path)
        api = api or ("messages" if path == "/v1/messages" else None)
        if api is None or not isinstance(body, dict):
            self._error("messages" if "/messages" in path else "chat", 404, f"no route {path}")
            return
        texts, last, turn, tool_result = _read(api, body, owner)
        if failure is None and (match := _FAIL.search(last)):
            failure = (int(match.group(1)), None)
        if failure is None and api == "responses":
            previous = body.get("previous_response_id")
            if previous and previous not in owner._turns:
                failure = (400, f"Previous response with id '{previous}' not found.")
        if failure is not None:
            self._error(api, failure[0], failure[1])
            return
        answer = owner._answer(texts, last, turn, tool_result, body.get("tools"))
        model = owner.model or str(body.get("model") or "fake-model")
        events = _BUILDERS[api](owner, body, answer, model, turn)
        if body.get("stream"):
            self._stream(events, answer.fail_stream, api)
        else:
            self._json(200, _final(events))

    def _json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", "req_fake")
        self.end_headers()
        self.wfile.write(data)

    def _error(self, api: str, status: int, message: str | None) -> None:
        kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        message = message or f"fake error {status}"
        if api == "messages":
            payload: Any = {"type": "error", "error": {"type": kind, "message": message}}
        else:
            payload = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        self._json(status, payload)

    def _stream(self, events: Iterator[tuple[str | None, Any]], fail: bool, api: str) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("cache-control", "no-cache")
        self.send_header("request-id", "req_fake")
        self.end_headers()
        delay = self.server.owner.delay
        try:
            for name, data in events:
                if name == "final":
                    continue
                self._event(name, data)
                if fail and _is_text_delta(data):
                    self._event(*_stream_error(api))
                    break
                if delay:
                    time.sleep(delay)
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError):  # the client closed the stream early
            self.close_connection = True

    def _event(self, name: str | None, data: Any) -> None:
        text = data if isinstance(data, str) else json.dumps(data)
        self._chunk(((f"event: {name}\n" if name else "") + f"data: {text}\n\n").encode())

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


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


def _read(api: str, body: dict[str, Any], owner: FakeLLMServer) -> tuple[list[str], str, int, Any]:
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
    owner: FakeLLMServer, body: dict[str, Any], a: _Answer, model: str, turn: int
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
    owner: FakeLLMServer, body: dict[str, Any], a: _Answer, model: str, turn: int
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
    owner: FakeLLMServer, body: dict[str, Any], a: _Answer, model: str, turn: int
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
