"""convtrack-otel: convtrack's conversations in OpenTelemetry.

- `ConversationSpanProcessor` stamps the current conversation and user on every span,
  whoever creates it (`gen_ai.conversation.id`, `session.id`, `user.id` by default).
- `OTelSink` exports convtrack's runs as spans (GenAI semantic conventions), one trace per
  root run; `convtrack.configure(sinks=["otel"])` uses the global tracer provider.

Example:
    >>> from convtrack_otel import ConversationSpanProcessor, OTelSink
    >>> provider.add_span_processor(ConversationSpanProcessor())
    >>> convtrack.configure(sinks=[OTelSink(provider)])
"""

from __future__ import annotations

try:
    import opentelemetry.sdk.trace  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "convtrack_otel needs the OpenTelemetry SDK (opentelemetry-sdk): pip install convtrack-otel"
    ) from exc

from ._processor import ConversationSpanProcessor
from ._sink import NoTracerProvider, OTelSink, SpanExportFailed

__version__ = "0.1.0"

__all__ = [
    "ConversationSpanProcessor",
    "NoTracerProvider",
    "OTelSink",
    "SpanExportFailed",
]
