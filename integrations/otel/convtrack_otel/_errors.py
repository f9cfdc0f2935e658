"""What OTelSink raises."""

from __future__ import annotations


class SpanExportError(RuntimeError):
    """The sink's exporter did not accept a batch of spans."""


class NoTracerProviderError(RuntimeError):
    """No OpenTelemetry SDK TracerProvider to export to."""
