"""Fixtures for the OpenTelemetry plugin tests: SDK providers with in-memory exporters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from convtrack_otel import ConversationSpanProcessor
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

import convtrack


@pytest.fixture(autouse=True)
def _shutdown_convtrack() -> Iterator[None]:
    """Stop whatever pipeline a test configured (before its providers are shut down)."""
    yield
    convtrack.shutdown()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    """Collects finished spans in memory."""
    return InMemorySpanExporter()


@pytest.fixture
def processor() -> ConversationSpanProcessor:
    """The processor under test, default attribute names."""
    return ConversationSpanProcessor()


@pytest.fixture
def provider(
    processor: ConversationSpanProcessor, exporter: InMemorySpanExporter
) -> Iterator[TracerProvider]:
    """An SDK provider: the conversation processor, then a simple processor to memory."""
    tp = TracerProvider(shutdown_on_exit=False)
    tp.add_span_processor(processor)
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    yield tp
    tp.shutdown()


@pytest.fixture
def plain_provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    """An SDK provider exporting to memory, without the conversation processor."""
    tp = TracerProvider(shutdown_on_exit=False)
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    yield tp
    tp.shutdown()


def _reset_global_tracer_provider() -> None:
    # OpenTelemetry lets a process set its global provider once; tests put it back (as the
    # OpenTelemetry test utilities do).
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


@pytest.fixture
def global_provider(plain_provider: TracerProvider) -> Iterator[TracerProvider]:
    """`plain_provider` registered as the global tracer provider for the test."""
    _reset_global_tracer_provider()
    trace.set_tracer_provider(plain_provider)
    yield plain_provider
    _reset_global_tracer_provider()


@pytest.fixture
def no_global_provider() -> Iterator[None]:
    """No global SDK tracer provider (the API's proxy) for the test."""
    _reset_global_tracer_provider()
    yield
    _reset_global_tracer_provider()
