"""A local HTTP server that answers with the headers it received, and follows redirects."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class _Handler(BaseHTTPRequestHandler):
    server: EchoServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        """`/redirect?to=URL`: 302 to URL; anything else: 200 with the headers as JSON."""
        url = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.seen.append(headers)
        if url.path == "/redirect":
            self.send_response(302)
            self.send_header("location", parse_qs(url.query)["to"][0])
            self.send_header("content-length", "0")
            self.end_headers()
            return
        body = json.dumps(headers).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class EchoServer(ThreadingHTTPServer):
    """Serves on 127.0.0.1 from a daemon thread; `seen` holds each request's headers."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[dict[str, str]] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        """The port it listens on."""
        port: int = self.server_address[1]
        return port

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        """The URL of `path` on this server, named by `host` (127.0.0.1 or localhost)."""
        return f"http://{host}:{self.port}{path}"

    def __enter__(self) -> EchoServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
        self.server_close()


def baggage_members(header: str | None) -> dict[str, str]:
    """A baggage header's members, as key -> raw value (empty when there is none)."""
    members: dict[str, str] = {}
    for member in (header or "").split(","):
        key, _, value = member.partition("=")
        if key.strip():
            members[key.strip()] = value.strip()
    return members
