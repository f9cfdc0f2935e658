"""OTelSink: feedback and conversation ends as zero-duration spans, under the judged run."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from convtrack_otel import OTelSink
from convtrack_otel._spans import span_id_of, trace_id_of
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import convtrack
from convtrack import Feedback


def _by_name(exporter: InMemorySpanExporter) -> dict[str, list[ReadableSpan]]:
    assert convtrack.flush()
    found: dict[str, list[ReadableSpan]] = {}
    for span in exporter.get_finished_spans():
        found.setdefault(span.name, []).append(span)
    return found


def test_feedback_and_end_become_spans(
    plain_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Feedback on a run is its child span; on the conversation and the end, traces of their
    own; all zero-duration, with the conversation, key, score, value and comment."""
    convtrack.configure([OTelSink(plain_provider)], grouping=False)
    with convtrack.conversation("conv-9", user_id="alice"):
        with convtrack.trace(name="answer") as step:
            pass
        on_run = convtrack.feedback(run_id=step.run_id, key="correct", value={"label": "yes"})
        on_conv = convtrack.feedback(key="thumbs", score=1, comment="great")
        convtrack.end_conversation()
    got = _by_name(exporter)
    [answer] = got["answer"]
    run_span, conv_span = got["convtrack.feedback"]
    [end] = got["convtrack.conversation_end"]
    assert on_run is not None
    assert on_conv is not None
    assert answer.context is not None
    assert run_span.parent is not None
    assert run_span.context is not None
    assert run_span.parent.span_id == answer.context.span_id
    assert run_span.context.trace_id == answer.context.trace_id
    assert run_span.start_time == run_span.end_time
    attrs = dict(run_span.attributes or {})
    assert attrs["gen_ai.conversation.id"] == "conv-9"
    assert attrs["convtrack.conversation.id"] == "conv-9"
    assert attrs["convtrack.feedback.key"] == "correct"
    assert attrs["convtrack.feedback.value"] == '{"label":"yes"}'
    assert attrs["convtrack.run.id"] == step.run_id
    assert attrs["convtrack.user.id"] == "alice"
    assert conv_span.parent is None
    conv_attrs = dict(conv_span.attributes or {})
    assert (conv_attrs["convtrack.feedback.score"], conv_attrs["convtrack.feedback.comment"]) == (
        1.0,
        "great",
    )
    assert end.parent is None
    assert end.start_time == end.end_time
    assert dict(end.attributes or {})["gen_ai.conversation.id"] == "conv-9"


def test_feedback_on_an_unseen_run_links_to_it(
    plain_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A run this sink never exported: the feedback span starts a trace, linked to the run."""
    sink = OTelSink(plain_provider)
    sink.export_events(
        [
            Feedback(
                "f-1",
                None,
                "run-elsewhere",
                "thumbs",
                0.0,
                None,
                None,
                None,
                datetime.now(timezone.utc),
            )
        ]
    )
    [span] = exporter.get_finished_spans()
    assert span.parent is None
    [link] = span.links
    assert link.context.trace_id == trace_id_of("run-elsewhere")
    assert link.context.span_id == span_id_of("run-elsewhere")
    assert "gen_ai.conversation.id" not in (span.attributes or {})


class _Refusing(SpanExporter):
    """An exporter that refuses every batch."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.FAILURE


def test_an_exporter_refusing_event_spans_counts_them_failed() -> None:
    """Exporter mode: spans of events the exporter refuses are failed events in stats()."""
    convtrack.configure([OTelSink(exporter=_Refusing())], grouping=False)
    convtrack.end_conversation("conv-x")
    assert not convtrack.flush()
    assert convtrack.stats()["events"]["failed"] == 1


def test_exporter_mode_sends_event_spans() -> None:
    """Exporter mode: the event spans reach the sink's own exporter."""
    memory = InMemorySpanExporter()
    convtrack.configure([OTelSink(exporter=memory)], grouping=False)
    convtrack.feedback("conv-y", key="thumbs", score=1)
    assert convtrack.flush()
    assert [span.name for span in memory.get_finished_spans()] == ["convtrack.feedback"]
