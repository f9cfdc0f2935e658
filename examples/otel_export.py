"""convtrack's conversations in OpenTelemetry, exported over OTLP/HTTP to a local receiver.

- `ConversationSpanProcessor` stamps the conversation and user on the app's own spans.
- `OTelSink` exports convtrack's runs as spans (one trace per root run, real times).
- Both go through one SDK TracerProvider to an OTLPSpanExporter (HTTP, protobuf), here sent to
  a tiny receiver on 127.0.0.1 (stdlib http.server in a thread) that decodes each
  ExportTraceServiceRequest with opentelemetry-proto and prints what it got.

Offline; exits by itself. Needs `pip install "convtrack-otel[otlp]"` (and opentelemetry-proto,
which the exporter brings).

Run: ``python examples/otel_export.py``
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from convtrack_otel import ConversationSpanProcessor, OTelSink
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import convtrack

SHOWN = ("gen_ai.conversation.id", "user.id", "convtrack.run.kind", "convtrack.grouping")


def value_of(value: AnyValue) -> Any:
    """The Python value of an OTLP attribute value."""
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)


class Receiver(BaseHTTPRequestHandler):
    """POST /v1/traces: decode the protobuf request and print its spans."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource_spans in request.resource_spans:
            service = {kv.key: value_of(kv.value) for kv in resource_spans.resource.attributes}.get(
                "service.name"
            )
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attrs = {kv.key: value_of(kv.value) for kv in span.attributes}
                    shown = ", ".join(f"{k}={attrs[k]}" for k in SHOWN if k in attrs)
                    parent = span.parent_span_id.hex() or "-" * 16
                    millis = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6
                    print(
                        f"  [{service}/{scope_spans.scope.name}] trace {span.trace_id.hex()[:8]} "
                        f"span {span.span_id.hex()[:8]} parent {parent[:8]} "
                        f"{span.name!r} {millis:.2f} ms  {shown}"
                    )
        payload = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def main() -> None:
    """Serve the receiver, record a conversation, export it, print what arrived."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    endpoint = f"http://{host!s}:{port}/v1/traces"
    print(f"OTLP/HTTP receiver on {endpoint}")

    provider = TracerProvider(resource=Resource.create({"service.name": "chat-api"}))
    provider.add_span_processor(ConversationSpanProcessor())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    convtrack.configure(sinks=[OTelSink(provider)], grouping=False)
    tracer = provider.get_tracer("chat-api")

    @convtrack.trace(name="answer")
    def answer(question: str) -> str:
        # Any span made inside a conversation, by any library, carries it.
        with (
            convtrack.trace(name="retrieve", kind="retriever"),
            tracer.start_as_current_span("vector-search"),
        ):
            documents = ["doc-1", "doc-2"]
        return f"{question!r}: {len(documents)} documents"

    with (
        convtrack.conversation("conv-42", user_id="user-alice"),
        tracer.start_as_current_span("POST /chat"),
    ):
        print("answered", answer("what is OTLP?"))
    tracer.start_span("health-check").end()  # no conversation: nothing stamped

    print("received:")
    convtrack.shutdown()  # flushes the runs into the provider (convtrack before the provider)
    provider.shutdown()  # flushes the BatchSpanProcessor to the receiver
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
