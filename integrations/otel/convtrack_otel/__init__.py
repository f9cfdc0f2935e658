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

from convtrack.instrumentation import missing_dependency as _missing_dependency

try:
    import opentelemetry.sdk.trace  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise _missing_dependency("convtrack_otel", "opentelemetry-sdk", "convtrack-otel") from exc

from ._errors import NoTracerProviderError, SpanExportError
from ._processor import ConversationSpanProcessor
from ._sink import OTelSink

__version__ = "0.1.0"

__all__ = [
    "ConversationSpanProcessor",
    "NoTracerProviderError",
    "OTelSink",
    "SpanExportError",
]
