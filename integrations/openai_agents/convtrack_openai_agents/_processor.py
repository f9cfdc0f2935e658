"""ConversationTracingProcessor: the Agents SDK's traces and spans as convtrack runs.

A trace is the turn: a `chain` run, the root. Under it, each agent span is a `chain` run,
each function span a `tool` run, each handoff and guardrail span a `chain` run, nested as
the SDK nests them (spans convtrack does not record, such as the SDK's task and turn spans,
are looked through). The SDK calls the processor on the task doing the work, so a
recorded span's run is made current while it is open (and undone when it ends): the model
calls the convtrack-openai integration records, and anything else instrumented, nest
under their agent step. Model-call spans (`response`, `generation`) are not recorded
here: the OpenAI integration records each call once, with its answer.
"""

from __future__ import annotations

import contextlib
import threading
from contextvars import Token
from typing import Any, NamedTuple

from agents.tracing import Span, Trace, TracingProcessor

from convtrack.instrumentation import (
    Decision,
    RunHandle,
    current_run,
    decide,
    is_capturing,
    is_recording,
    report,
    start_run,
    to_jsonable,
)

from ._runner import PENDING

SOURCE = "openai-agents"
# span type -> run kind; other span types are looked through
KINDS = {"agent": "chain", "function": "tool", "handoff": "chain", "guardrail": "chain"}


class _Open(NamedTuple):
    """A recorded span: its run and the token that made it current (None: not made current)."""

    run: RunHandle
    token: Token[RunHandle | None] | None


class ConversationTracingProcessor(TracingProcessor):
    """Records the Agents SDK's traces and spans as convtrack runs in the app's conversation.

    `convtrack_openai_agents.instrument()` registers one (`agents.add_trace_processor`); to
    use it with your own processors, pass it to `agents.set_trace_processors([...])`. It
    records only while `enabled` (`uninstrument()` turns it off: the SDK has no way to
    remove a processor) and never raises.
    """

    def __init__(self, *, enabled: bool = True) -> None:
        """A processor that records while `enabled`."""
        self.enabled = enabled
        self._traces: dict[str, RunHandle] = {}  # trace_id -> its root run
        self._spans: dict[str, _Open] = {}  # span_id -> its run (recorded spans)
        self._through: dict[str, RunHandle] = {}  # span_id -> its parent's run (looked through)
        self._lock = threading.Lock()

    # -- traces ----------------------------------------------------------------------

    def on_trace_start(self, trace: Trace) -> None:
        """Start the turn's root run, in the conversation the Runner or `group_id` named."""
        if not (self.enabled and is_recording()):
            return
        try:
            pending = PENDING.get()
            group_id = getattr(trace, "group_id", None)
            if pending is not None:
                decision: Decision | None = pending.decision
                inputs = pending.inputs
            else:
                decision = decide(parent=current_run(), conversation_id=group_id or None)
                inputs = None
            metadata = {"trace_id": trace.trace_id}
            if group_id:
                metadata["group_id"] = group_id
            run = start_run(
                "chain",
                trace.name or "Agent workflow",
                source=SOURCE,
                inputs=inputs,
                metadata=metadata,
                decision=decision,
            )
            if run:
                self._traces[trace.trace_id] = run
        except Exception as exc:
            report("openai-agents: a trace's start", exc)

    def on_trace_end(self, trace: Trace) -> None:
        """End the turn's root run."""
        run = self._traces.pop(trace.trace_id, None)
        if run is None:
            return
        try:
            run.end()
        except Exception as exc:
            report("openai-agents: a trace's end", exc)

    # -- spans -----------------------------------------------------------------------

    def on_span_start(self, span: Span[Any]) -> None:
        """Start the span's run under its parent's, and make it current."""
        if not (self.enabled and is_recording()):
            return
        try:
            parent = self._parent_of(span)
            kind = KINDS.get(span.span_data.type)
            if kind is None:
                if parent is not None:
                    self._through[span.span_id] = parent
                return
            run = start_run(
                kind,
                _name(span.span_data),
                source=SOURCE,
                parent=parent,
                inputs=_inputs(span.span_data),
                metadata={"span_type": span.span_data.type},
                decision=_decision(parent),
            )
            if run:
                self._spans[span.span_id] = _Open(run, run.activate())
        except Exception as exc:
            report("openai-agents: a span's start", exc)

    def on_span_end(self, span: Span[Any]) -> None:
        """End the span's run with what the span recorded; its parent is current again."""
        self._through.pop(span.span_id, None)
        opened = self._spans.pop(span.span_id, None)
        if opened is None:
            return
        try:
            data = span.span_data
            error = span.error
            inputs = _inputs(data)  # a function span's input is known by now
            if inputs is not None:
                opened.run.set_input(inputs)
            opened.run.end(
                outputs=_outputs(data),
                error=_error_message(error) if error else None,
                metadata=_end_metadata(data),
            )
        except Exception as exc:
            report("openai-agents: a span's end", exc)
        finally:
            _deactivate(opened.token)

    def shutdown(self) -> None:
        """End what is still open (the application is stopping)."""
        with self._lock:
            spans, traces = list(self._spans.values()), list(self._traces.values())
            self._spans.clear()
            self._traces.clear()
            self._through.clear()
        for run in [opened.run for opened in spans] + traces:
            try:
                run.end(error="not finished when the tracing provider shut down")
            except Exception as exc:
                report("openai-agents: shutdown", exc)

    def force_flush(self) -> None:
        """Nothing is buffered here (convtrack's pipeline exports the runs)."""

    def _parent_of(self, span: Span[Any]) -> RunHandle | None:
        parent_id = span.parent_id
        if parent_id is not None:
            opened = self._spans.get(parent_id)
            if opened is not None:
                return opened.run
            through = self._through.get(parent_id)
            if through is not None:
                return through
        root = self._traces.get(span.trace_id)
        return root if root is not None else current_run()


def _decision(parent: RunHandle | None) -> Decision | None:
    """The parent's conversation, else a Runner run's inside a trace the app opened itself."""
    if parent is not None and parent.conversation_id:
        return None  # start_run takes the parent's
    pending = PENDING.get()
    return None if pending is None else pending.decision


def _deactivate(token: Token[RunHandle | None] | None) -> None:
    if token is None:
        return
    # ended on another task than it started on: that task's context is not ours to change
    with contextlib.suppress(ValueError, RuntimeError):
        RunHandle.deactivate(token)


def _name(data: Any) -> str:
    kind = data.type
    if kind == "handoff":
        return "handoff"
    name = getattr(data, "name", None)
    return str(name) if name else kind


def _inputs(data: Any) -> Any:
    if data.type == "function" and is_capturing() and data.input is not None:
        return {"input": to_jsonable(data.input)}
    return None


def _outputs(data: Any) -> Any:
    if data.type == "function" and is_capturing() and data.output is not None:
        return {"output": to_jsonable(data.output)}
    return None


def _end_metadata(data: Any) -> dict[str, Any] | None:
    kind = data.type
    if kind == "agent":
        return {
            key: value
            for key, value in (
                ("tools", data.tools),
                ("handoffs", data.handoffs),
                ("output_type", data.output_type),
            )
            if value
        } or None
    if kind == "handoff":
        return {"from_agent": data.from_agent, "to_agent": data.to_agent}
    if kind == "guardrail":
        return {"triggered": bool(data.triggered)}
    return None


def _error_message(error: Any) -> str:
    if isinstance(error, dict):
        message = str(error.get("message") or "error")
        data = error.get("data")
        return f"{message}: {data}" if data else message
    return str(error)
