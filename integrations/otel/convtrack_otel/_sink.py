"""OTelSink: convtrack runs exported as OpenTelemetry spans.

Design: the sink uses the SDK's own tracer API with explicit parent contexts, so every span
goes through the provider's sampler, span limits, resource and processors like any other.
Only the ids are chosen here: runs end (and are exported) children first, often in an earlier
batch than their parent, so a child must name its parent's span id before that span exists.
The trace id is derived from the root run id and each span id from the run id (both hashed,
deterministic), and they are handed to a private copy of the SDK tracer through its
`id_generator`; the parent is a `SpanContext` built from the parent run's id. Feedback and
conversation ends (`export_events`) become zero-duration spans (`_events.py`).
"""

from __future__ import annotations

import atexit
import contextvars
import copy
import threading
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Tracer as SDKTracer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

import convtrack
from convtrack import ConversationEnd, Feedback, Run
from convtrack.instrumentation import report, times_ns

from ._errors import NoTracerProviderError, SpanExportError
from ._events import event_span, remember_root
from ._names import DEFAULT, AttributeNames, parse
from ._spans import error_parts, has_tokens, span_id_of, span_parts, trace_id_of
from ._tracing import Collect, PresetIds

SCOPE = "convtrack"
_VERSION = "0.1.0"
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)
_KEPT = (Decision.RECORD_AND_SAMPLE,)
_MAX_COVERED = 65_536  # LLM runs whose nested LLM run carried the usage, awaiting export


class OTelSink:
    """A convtrack sink that turns runs into OpenTelemetry spans.

    Each run becomes a span with its real start and end times, its parent (one trace per
    root run, even when a child is exported before its parent), its status and error, GenAI
    semantic-convention attributes (`gen_ai.operation.name`, `gen_ai.request.model`,
    `gen_ai.usage.input_tokens`, `error.type`, ...) and convtrack's (`convtrack.run.kind`,
    `convtrack.run.source`, `convtrack.grouping`, `convtrack.user.id`, ...).

    A conversation id that automatic grouping inferred is not written as
    `gen_ai.conversation.id` (the conventions ask that ids not be synthesised): it is in
    `convtrack.conversation.id` with `convtrack.conversation.inferred = true`, unless
    `inferred_as_conversation_id=True`.

    Example:
        >>> convtrack.configure(sinks=[OTelSink(provider)])   # or sinks=["otel"]: the global one
        >>> convtrack.configure(sinks=[OTelSink(exporter=OTLPSpanExporter())])
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        *,
        exporter: SpanExporter | None = None,
        resource: Resource | None = None,
        attributes: AttributeNames = DEFAULT,
        inferred_as_conversation_id: bool = False,
        capture_content: bool = False,
    ) -> None:
        """Choose where the spans go.

        Args:
            tracer_provider: an SDK `TracerProvider` whose processors get the spans; None (and
                no exporter) means the global one, looked up at each export.
            exporter: instead of a provider, a `SpanExporter` the sink calls itself, once per
                batch: its failures are then logged and counted by convtrack (`stats()`).
            resource: the resource of the spans in exporter mode (default: from the
                environment, like the SDK's).
            attributes: the names that carry the conversation, user and agent ids (see
                `ConversationSpanProcessor`).
            inferred_as_conversation_id: also write ids inferred by automatic grouping under
                those names.
            capture_content: also write inputs and outputs (`convtrack.inputs`,
                `convtrack.outputs`, JSON) when convtrack recorded them.
        """
        if tracer_provider is not None and exporter is not None:
            raise ValueError("give OTelSink a tracer_provider or an exporter, not both")
        if resource is not None and exporter is None:
            raise ValueError("resource= is for exporter mode; a provider has its own resource")
        if tracer_provider is not None and not isinstance(tracer_provider, TracerProvider):
            raise TypeError(
                "OTelSink needs an opentelemetry.sdk.trace.TracerProvider (the SDK's), got "
                f"{type(tracer_provider).__name__}"
            )
        self.names = parse(attributes)
        self.inferred_as_conversation_id = inferred_as_conversation_id
        self.capture_content = capture_content
        self.exporter = exporter
        self._collect: Collect | None = None
        if exporter is not None:
            self._collect = Collect()
            tracer_provider = TracerProvider(
                resource=resource or Resource.create({}), shutdown_on_exit=False
            )
            tracer_provider.add_span_processor(self._collect)
        self._provider = tracer_provider
        self._ids = PresetIds()
        # LLM run id -> None: a nested LLM run (the same model call) wrote the usage already
        self._covered: dict[str, None] = {}
        self._roots: dict[str, str] = {}  # run id -> root run id, for feedback on a run
        self._lock = threading.Lock()
        self._at_exit_registered = False
        self._exited = False
        if exporter is None and isinstance(
            tracer_provider or trace.get_tracer_provider(), TracerProvider
        ):
            self._flush_before_provider_exits()

    # -- Sink -----------------------------------------------------------------------------

    def export(self, runs: Sequence[Run]) -> None:
        """Turn the runs into spans (on convtrack's worker thread); raises if they are lost."""
        if runs:
            # A fresh context: no conversation or current span of the exporting thread leaks in.
            contextvars.Context().run(self._export, runs)

    def export_events(self, events: Sequence[Feedback | ConversationEnd]) -> None:
        """Turn feedback and conversation ends into zero-duration spans (`convtrack.feedback`,
        `convtrack.conversation_end`); raises if they are lost."""
        if events:
            contextvars.Context().run(self._export_events, events)

    def flush(self, timeout: float | None = None) -> bool:
        """Flush the provider's processors (or the exporter); False if that timed out."""
        millis = 30_000 if timeout is None else max(int(timeout * 1000), 1)
        if self.exporter is not None:
            # SpanExporter.force_flush may return None (the base class does): not a failure.
            return self.exporter.force_flush(millis) is not False
        if self._exited:  # the provider flushed at exit and is shut down by now
            return True
        provider = self._provider or trace.get_tracer_provider()
        force_flush = getattr(provider, "force_flush", None)
        return force_flush is None or force_flush(millis) is not False

    def close(self) -> None:
        """Flush; shut down the exporter this sink owns (never a provider it was given)."""
        if self._at_exit_registered:
            atexit.unregister(self._flush_at_exit)
            self._at_exit_registered = False
        if self.exporter is not None:
            self.exporter.shutdown()
        else:
            self.flush(5.0)

    # -- the work ---------------------------------------------------------------------------

    def _export(self, runs: Sequence[Run]) -> None:
        with self._lock:
            tracer = self._tracer()
            sampled: dict[int, bool] = {}
            for run in runs:
                try:
                    self._emit(tracer, run, sampled)
                except Exception as exc:  # one odd run must not cost the batch
                    report("OTelSink: a run as a span", exc)
            self._send_collected()

    def _export_events(self, events: Sequence[Feedback | ConversationEnd]) -> None:
        with self._lock:
            tracer = self._tracer()
            for event in events:
                try:
                    event_span(tracer, self._ids, event, self.names, self._roots)
                except Exception as exc:  # one odd event must not cost the batch
                    report("OTelSink: an event as a span", exc)
            self._send_collected()

    def _send_collected(self) -> None:
        """In exporter mode, hand the spans made so far to the exporter (the lock held)."""
        if self._collect is not None and self.exporter is not None:
            spans, self._collect.spans = self._collect.spans, []
            if spans:
                result = self.exporter.export(spans)
                if result is not SpanExportResult.SUCCESS:
                    raise SpanExportError(
                        f"{type(self.exporter).__name__} did not export {len(spans)} spans "
                        f"({result})"
                    )

    def _tracer(self) -> SDKTracer:
        provider: object = self._provider
        if provider is None:
            provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            raise NoTracerProviderError(
                "OTelSink: no OpenTelemetry SDK TracerProvider is registered (found "
                f"{type(provider).__name__}); call opentelemetry.trace.set_tracer_provider("
                "TracerProvider(...)) or pass OTelSink(tracer_provider=...)"
            )
        self._flush_before_provider_exits()
        tracer = provider.get_tracer(SCOPE, _VERSION)
        if not isinstance(tracer, SDKTracer):  # e.g. OTEL_SDK_DISABLED=true: a no-op tracer
            raise NoTracerProviderError(f"OTelSink: the provider gave a {type(tracer).__name__}")
        own = copy.copy(tracer)  # the provider's tracer is shared: the ids are set on a copy
        own.id_generator = self._ids
        return own

    def _usage_here(self, run: Run) -> bool:
        """Whether `run`'s span carries its usage: once per model call (see the README).

        An LLM run nested in another (an SDK call inside a LangChain chat model's run) is the
        same call: it ends first and carries the usage; its parent's span then does not.
        """
        covered = self._covered
        carried = run.run_id in covered  # by an LLM run nested in this one
        if carried:
            del covered[run.run_id]
        if run.kind != "llm":
            return True
        if run.parent_run_id is not None and (carried or has_tokens(run.usage)):
            covered[run.parent_run_id] = None  # the parent may be an LLM run: it is covered
            if len(covered) > _MAX_COVERED:  # parents never exported: forget the oldest
                del covered[next(iter(covered))]
        return not carried

    def _emit(self, tracer: SDKTracer, run: Run, sampled: dict[int, bool]) -> None:
        parts = span_parts(
            run,
            self.names,
            inferred_as_conversation_id=self.inferred_as_conversation_id,
            capture_content=self.capture_content,
            usage=self._usage_here(run),
        )
        remember_root(self._roots, run)
        trace_id = trace_id_of(run.root_run_id)
        ids = self._ids
        ids.trace_id = trace_id
        ids.span_id = span_id_of(run.run_id)
        context = Context()
        if run.parent_run_id is not None:
            # The parent may not be exported yet: ask the sampler what the trace's root gets,
            # so a trace is kept or dropped whole (for samplers that decide by trace id).
            keep = sampled.get(trace_id)
            if keep is None:
                decision = tracer.sampler.should_sample(
                    Context(), trace_id, parts.name, parts.kind, parts.attributes
                ).decision
                keep = sampled[trace_id] = decision in _KEPT
            parent = SpanContext(
                trace_id,
                span_id_of(run.parent_run_id),
                is_remote=False,
                trace_flags=_SAMPLED if keep else _NOT_SAMPLED,
            )
            context = trace.set_span_in_context(NonRecordingSpan(parent), context)
        start_ns, end_ns = times_ns(run)
        span = tracer.start_span(
            parts.name,
            context=context,
            kind=parts.kind,
            attributes=parts.attributes,
            start_time=start_ns,
        )
        if run.error is not None and span.is_recording():
            error_type, message = error_parts(run.error)
            span.set_status(Status(StatusCode.ERROR, run.error))
            span.add_event(
                "exception",
                {"exception.type": error_type, "exception.message": message},
                timestamp=end_ns,
            )
        span.end(end_time=end_ns)

    def _flush_before_provider_exits(self) -> None:
        # Registered once the provider exists, so it runs before the provider's own shutdown
        # at exit (atexit runs last-in first-out): the last runs still reach its processors.
        if not self._at_exit_registered and self.exporter is None:
            atexit.register(self._flush_at_exit)
            self._at_exit_registered = True

    def _flush_at_exit(self) -> None:
        try:
            convtrack.flush(5.0)
            self.flush(5.0)
            self._exited = True
        except Exception as exc:
            report("OTelSink: flushing at exit", exc)
