"""The fake server itself: real HTTP on 127.0.0.1 from a daemon thread."""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ._answers import (
    _BUILDERS,
    _ERROR_TYPES,
    _FAIL,
    _STREAM_ERROR,
    _Answer,
    _final,
    _is_text_delta,
    _read,
    _stream_error,
    _tool_name,
)


@dataclass(frozen=True)
class FakeRequest:
    """One request the server received: method, path, headers (lower-case names), JSON body."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any


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
