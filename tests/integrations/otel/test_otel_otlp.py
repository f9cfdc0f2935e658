"""Over the wire: OTLP/HTTP (protobuf) to a local receiver, decoded with opentelemetry-proto."""

from __future__ import annotations

import logging

import pytest
from convtrack_otel import ConversationSpanProcessor, OTelSink
from convtrack_otel._spans import span_id_of, trace_id_of
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from otlp_receiver import attributes_of, running_receiver

import convtrack
from convtrack._resolve import decide
from convtrack._start import start_run
from convtrack.instrumentation import times_ns


def by_name(spans: list[Span]) -> dict[str, Span]:
    """Decoded spans by their `convtrack.run.name` (or span name)."""
    return {str(attributes_of(s).get("convtrack.run.name", s.name)): s for s in spans}


def test_runs_arrive_as_otlp_protobuf_with_links_times_and_ids() -> None:
    """Runs exported by OTLPSpanExporter decode with their trace, parents, times and ids."""
    memory = convtrack.MemorySink()
    with running_receiver() as receiver:
        sink = OTelSink(exporter=OTLPSpanExporter(endpoint=receiver.url, timeout=5))
        convtrack.configure([sink, memory], export_interval=0.05)
        with convtrack.conversation("conv-42", user_id="alice"), convtrack.trace(name="handle"):
            llm = start_run("llm", "llm-call", source="anthropic")
            assert llm is not None
            llm.end(model="claude-test", usage={"input_tokens": 5, "output_tokens": 7})
        inferred = start_run(
            "llm", "inferred", source="openai", decision=decide(messages=[{"role": "user"}])
        )
        assert inferred is not None
        inferred.end(error=TimeoutError("slow"))
        convtrack.flush()
        got = by_name(receiver.spans())
        assert receiver.content_types[0] == "application/x-protobuf"
    runs = {run.name: run for run in memory.runs}
    root, child = got["handle"], got["llm-call"]
    assert root.trace_id == trace_id_of(runs["handle"].run_id).to_bytes(16, "big")
    assert root.span_id == span_id_of(runs["handle"].run_id).to_bytes(8, "big")
    assert root.parent_span_id == b""
    assert child.trace_id == root.trace_id
    assert child.parent_span_id == root.span_id
    for name, span in got.items():
        assert (span.start_time_unix_nano, span.end_time_unix_nano) == times_ns(runs[name])
    llm_attrs = attributes_of(child)
    assert child.name == "chat claude-test"
    assert child.kind == Span.SPAN_KIND_CLIENT
    assert llm_attrs["gen_ai.conversation.id"] == "conv-42"
    assert llm_attrs["user.id"] == "alice"
    assert llm_attrs["gen_ai.provider.name"] == "anthropic"
    assert llm_attrs["gen_ai.usage.input_tokens"] == 5
    assert llm_attrs["gen_ai.usage.output_tokens"] == 7
    auto = attributes_of(got["inferred"])
    assert auto["convtrack.conversation.inferred"] is True
    assert "gen_ai.conversation.id" not in auto
    assert auto["error.type"] == "TimeoutError"
    assert got["inferred"].status.code == Status.STATUS_CODE_ERROR


def test_foreign_spans_and_runs_share_one_otlp_pipeline() -> None:
    """With the processor on the provider, app spans arrive stamped next to the run spans."""
    with running_receiver() as receiver:
        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(ConversationSpanProcessor(attributes=("gen_ai", "traceloop")))
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=receiver.url, timeout=5))
        )
        convtrack.configure([OTelSink(provider)], grouping=False, export_interval=0.05)
        tracer = provider.get_tracer("my-app")
        with (
            convtrack.conversation("conv-7", user_id="bob"),
            tracer.start_as_current_span("http GET /chat"),
            convtrack.trace(name="answer"),
        ):
            tracer.start_span("vector-search").end()
        tracer.start_span("health-check").end()
        convtrack.shutdown()  # convtrack first: its last runs still reach the provider
        provider.shutdown()
        got = by_name(receiver.spans())
    assert set(got) == {"http GET /chat", "vector-search", "answer", "health-check"}
    for name in ("http GET /chat", "vector-search"):
        assert attributes_of(got[name]) == {
            "gen_ai.conversation.id": "conv-7",
            "user.id": "bob",
            "traceloop.association.properties.conversation_id": "conv-7",
            "traceloop.association.properties.user_id": "bob",
        }
    assert attributes_of(got["health-check"]) == {}
    answer = attributes_of(got["answer"])  # the sink writes its own names (default ones)
    assert answer["gen_ai.conversation.id"] == answer["session.id"] == "conv-7"
    assert answer["convtrack.run.kind"] == "function"


def test_collector_refusing_the_batch_is_logged_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A collector refusing the batch (400): the app runs on; convtrack logs and counts."""
    with running_receiver(status=400) as receiver:
        sink = OTelSink(exporter=OTLPSpanExporter(endpoint=receiver.url, timeout=5))
        convtrack.configure([sink], grouping=False, export_interval=0.05)
        with caplog.at_level(logging.WARNING, logger="convtrack"):
            with convtrack.trace(name="one"), convtrack.trace(name="two"):
                value = "answered"
            convtrack.flush()
        assert receiver.wait_for_posts(1)
    assert value == "answered"
    assert convtrack.stats()["failed"] == 2
    assert "sink OTelSink failed" in caplog.text
    assert receiver.spans() == []
