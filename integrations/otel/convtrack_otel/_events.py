"""Feedback and conversation ends as spans: zero-duration, under the run they judge.

A feedback span on a run is that run's child, in its trace, when the sink exported the run
(it remembers each run's root for that); a run it never saw gets a trace of its own and a
link to the run's span, whose trace is named as if the run were a root (right for
feedback on a top-level run, the usual case). Feedback on a conversation alone, and a
conversation's end, start traces of their own.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Tracer as SDKTracer
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.util.types import AttributeValue

from convtrack import ConversationEnd, Feedback, Run
from convtrack.instrumentation import dumps

from ._names import Names
from ._spans import span_id_of, trace_id_of
from ._tracing import PresetIds

FEEDBACK_SPAN = "convtrack.feedback"
END_SPAN = "convtrack.conversation_end"
MAX_ROOTS = 65_536  # run id -> root run id, for feedback arriving after its run
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_KEPT = (Decision.RECORD_AND_SAMPLE,)


def remember_root(roots: dict[str, str], run: Run) -> None:
    """Note the run's root (the oldest notes are forgotten past `MAX_ROOTS`)."""
    roots[run.run_id] = run.root_run_id
    if len(roots) > MAX_ROOTS:
        del roots[next(iter(roots))]


def _ns(when: datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return (when - _EPOCH) // timedelta(microseconds=1) * 1000


def _attributes(event: Feedback | ConversationEnd, names: Names) -> dict[str, AttributeValue]:
    attrs: dict[str, AttributeValue] = {}
    if event.conversation_id:
        attrs["convtrack.conversation.id"] = event.conversation_id
        for key in names.conversation:
            attrs[key] = event.conversation_id
    if isinstance(event, ConversationEnd):
        return attrs
    attrs["convtrack.feedback.id"] = event.feedback_id
    attrs["convtrack.feedback.key"] = event.key
    if event.score is not None:
        attrs["convtrack.feedback.score"] = event.score
    if event.value is not None:
        value: Any = event.value
        ok = isinstance(value, (str, bool, int, float))
        attrs["convtrack.feedback.value"] = value if ok else dumps(value)
    if event.comment is not None:
        attrs["convtrack.feedback.comment"] = event.comment
    if event.run_id:
        attrs["convtrack.run.id"] = event.run_id
    if event.user_id:
        attrs["convtrack.user.id"] = event.user_id
        for key in names.user:
            attrs[key] = event.user_id
    return attrs


def event_span(
    tracer: SDKTracer,
    ids: PresetIds,
    event: Feedback | ConversationEnd,
    names: Names,
    roots: dict[str, str],
) -> None:
    """Start and end the span of one event (`ids`: the sink's preset id generator)."""
    attrs = _attributes(event, names)
    if isinstance(event, Feedback):
        name, when, own = FEEDBACK_SPAN, _ns(event.created_at), event.feedback_id
    else:
        name, when = END_SPAN, _ns(event.ended_at)
        own = f"{event.conversation_id}\x00{event.ended_at.isoformat()}"
    context, links = Context(), []
    ids.trace_id, ids.span_id = trace_id_of(own), span_id_of(own)
    run_id = event.run_id if isinstance(event, Feedback) else None
    if run_id is not None:
        root = roots.get(run_id)
        if root is not None:  # the run's span is known: the event is its child
            ids.trace_id = trace_id_of(root)
            decision = tracer.sampler.should_sample(
                Context(), ids.trace_id, name, SpanKind.INTERNAL, attrs
            ).decision
            flags = TraceFlags(TraceFlags.SAMPLED if decision in _KEPT else TraceFlags.DEFAULT)
            parent = SpanContext(ids.trace_id, span_id_of(run_id), False, flags)
            context = trace.set_span_in_context(NonRecordingSpan(parent), context)
        else:  # a run this sink did not export: linked, as if it were a root run
            linked = SpanContext(trace_id_of(run_id), span_id_of(run_id), False)
            links.append(Link(linked))
    span = tracer.start_span(
        name,
        context=context,
        kind=SpanKind.INTERNAL,
        attributes=attrs,
        links=links,
        start_time=when,
    )
    span.end(end_time=when)
