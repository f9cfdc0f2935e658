"""The sink's own pieces of the SDK tracer: ids chosen before each span, spans collected."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator


class PresetIds(IdGenerator):
    """Hands out the ids set just before each `start_span` (one exporting thread at a time)."""

    trace_id = 0
    span_id = 0

    def generate_trace_id(self) -> int:
        return self.trace_id

    def generate_span_id(self) -> int:
        return self.span_id

    def is_trace_id_random(self) -> bool:
        return False


class Collect(SpanProcessor):
    """Keeps the ended spans for the sink to hand to its exporter."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)
