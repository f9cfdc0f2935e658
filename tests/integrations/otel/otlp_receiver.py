"""A local OTLP/HTTP (protobuf) trace receiver for the tests: stdlib http.server in a thread."""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span


def value_of(value: AnyValue) -> Any:
    """The Python value of an OTLP AnyValue."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [value_of(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value_of(kv.value) for kv in value.kvlist_value.values}
    return None if kind is None else getattr(value, kind)


def attributes_of(span: Span) -> dict[str, Any]:
    """A decoded span's attributes as a dict."""
    return {kv.key: value_of(kv.value) for kv in span.attributes}


class Receiver:
    """Collects the spans of every ExportTraceServiceRequest POSTed to /v1/traces."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[ExportTraceServiceRequest] = []
        self.content_types: list[str] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with receiver._changed:
                    receiver.content_types.append(self.headers.get("Content-Type", ""))
                    if receiver.status == 200:
                        receiver.requests.append(request)
                    receiver._changed.notify_all()
                payload = ExportTraceServiceResponse().SerializeToString()
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The OTLP/HTTP traces endpoint."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1/traces"

    def spans(self) -> list[Span]:
        """Every span received so far."""
        with self._changed:
            return [
                span
                for request in self.requests
                for resource_spans in request.resource_spans
                for scope_spans in resource_spans.scope_spans
                for span in scope_spans.spans
            ]

    def wait_for_posts(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until `count` requests arrived (accepted or not)."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.content_types) >= count, timeout)


@contextmanager
def running_receiver(status: int = 200) -> Iterator[Receiver]:
    """A receiver serving on 127.0.0.1 for the duration of the block."""
    receiver = Receiver(status)
    receiver._thread.start()
    try:
        yield receiver
    finally:
        receiver._server.shutdown()
        receiver._server.server_close()
        receiver._thread.join(5.0)
