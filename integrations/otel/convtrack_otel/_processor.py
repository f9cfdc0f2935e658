"""ConversationSpanProcessor: every span started inside a conversation carries it."""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanContext

from convtrack.instrumentation import Conversation, current_conversation, report

from ._names import DEFAULT, AttributeNames, Names, parse

# What one conversation writes: the attributes and the length of the longest value.
Stamp = tuple[dict[str, Any], int]

# Conversations whose stamps are kept (by identity; the memo starts over when full).
MEMO_MAX = 256
_NO_CONVERSATION: Any = object()


class ConversationSpanProcessor(SpanProcessor):
    """Stamps the current convtrack conversation and user on every span as it starts.

    Whoever creates the span (the Anthropic SDK, OpenLLMetry, OpenInference, Logfire, your own
    code), a span started inside `convtrack.conversation(...)` gets the conversation id and the
    user id under the configured attribute names. A span started outside any conversation
    still gets them when its trace's local root span began inside one (e.g. a thread or task
    that carries the OpenTelemetry context but not convtrack's); that per-trace memory is
    bounded and forgotten when the root span ends. Attributes the span's creator already set
    are left as they are. The processor never raises.

    Register it on the provider itself (the default `SynchronousMultiSpanProcessor`): it reads
    the conversation on the thread that starts the span.

    Example:
        >>> provider.add_span_processor(ConversationSpanProcessor())
        >>> provider.add_span_processor(ConversationSpanProcessor(attributes=("openinference",)))
    """

    def __init__(
        self,
        *,
        attributes: AttributeNames = DEFAULT,
        max_traces: int = 10_000,
    ) -> None:
        """Choose what to write.

        Args:
            attributes: attribute names or presets (`"gen_ai"`, `"openinference"`,
                `"traceloop"`, `"langfuse"`), or a mapping `{name: "conversation_id" |
                "user_id" | "agent_id"}` for names of your own.
            max_traces: traces whose root began inside a conversation remembered at most
                (the oldest is forgotten first).
        """
        if not isinstance(max_traces, int) or max_traces < 0:
            raise ValueError(f"max_traces must be an int >= 0, got {max_traces!r}")
        self._names = parse(attributes)
        self.max_traces = max_traces
        # trace_id -> (the local root's SpanContext, stamp); insertion order is age. Every
        # change is one dict operation (atomic under the GIL), so threads need no lock here:
        # at worst an entry is lost, which only leaves some spans outside a conversation
        # unstamped. `_lock` only keeps two trimming threads from forgetting twice.
        self._traces: dict[int, tuple[SpanContext, Stamp]] = {}
        self._lock = threading.Lock()
        # The last conversation seen and its stamp (one tuple, replaced whole: threads never
        # see one conversation with another's stamp), then a bounded memo by identity,
        # id(conversation) -> (the Conversation, its stamp), that starts over when full. An
        # entry holds its Conversation, so that id() cannot be reused while it is memoised,
        # and a Conversation is immutable: a stamp never goes stale.
        self._last: tuple[object, Stamp | None] = (_NO_CONVERSATION, None)
        self._stamps: dict[int, tuple[Conversation, Stamp | None]] = {}
        self._pairs = len(self._names.conversation) + len(self._names.user) + len(self._names.agent)
        self._roomy: object = None  # the SpanLimits any stamp fits in whole, once seen

    # -- the hot path (each line here costs every span of the application) -------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Stamp the conversation (from the context, else from the span's trace)."""
        # The span was created on this thread a moment ago and is not yet visible to the
        # application (processors run one after another on the starting thread), so an SDK
        # span's fields are read and written directly. A SpanContext is a tuple (trace_id,
        # span_id, is_remote, ...): indexed rather than through its properties (Python calls).
        try:
            sdk: Any = span
            conv = current_conversation()
            if conv is None:  # outside any conversation: is the span's trace remembered?
                traces = self._traces
                if not traces:
                    return
                entry = traces.get(sdk._context[0])
                if entry is None:
                    return
                stamp = entry[1]
            else:
                last = self._last
                found = last[1] if last[0] is conv else self._stamp_for(conv)
                if found is None:
                    return
                stamp = found
                parent = sdk._parent
                if (parent is None or parent[2]) and self.max_traces:
                    context = sdk._context  # a local root: `_remember`, inlined
                    traces = self._traces
                    traces[context[0]] = (context, stamp)
                    if len(traces) > self.max_traces:
                        self._trim()
            values = sdk._attributes._dict
            if not values and sdk._limits is self._roomy:
                values.update(stamp[0])  # no attributes yet, and room for ours
            else:
                self._write(span, stamp)
        except AttributeError:  # spans of an SDK laid out otherwise: the public API from now on
            self._use_public_api()
            self._on_start_public(span, parent_context)
        except Exception as exc:
            report("ConversationSpanProcessor.on_start", exc)

    def on_end(self, span: ReadableSpan) -> None:
        """Forget the trace when the local root span that stamped it ends."""
        traces = self._traces
        if not traces:
            return
        try:
            sdk: Any = span  # an SDK span's fields (as in on_start)
            parent = sdk._parent
            if parent is not None and not parent[2]:
                return  # not a local root: most spans
            context = sdk._context
            if context is None:
                return
            self._forget(context[0], context)
        except AttributeError:
            self._use_public_api()
            self._on_end_public(span)
        except Exception as exc:
            report("ConversationSpanProcessor.on_end", exc)

    # -- the same through the public API, and the rare paths -----------------------------

    def _on_start_public(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            stamp: Stamp | None
            conv = current_conversation()
            if conv is None:
                entry = self._traces.get(span.context.trace_id)
                if entry is None:
                    return
                stamp = entry[1]
            else:
                stamp = self._stamp_for(conv)
                if stamp is None:
                    return
                parent = span.parent
                if (parent is None or parent.is_remote) and self.max_traces:
                    self._remember(span.context, stamp)
            self._write(span, stamp)
        except Exception as exc:
            report("ConversationSpanProcessor.on_start", exc)

    def _on_end_public(self, span: ReadableSpan) -> None:
        traces = self._traces
        if not traces:
            return
        try:
            parent, context = span.parent, span.context
            if context is None or (parent is not None and not parent.is_remote):
                return
            self._forget(context.trace_id, context)
        except Exception as exc:
            report("ConversationSpanProcessor.on_end", exc)

    def _remember(self, context: SpanContext, stamp: Stamp) -> None:
        """Remember the trace of a local root started in a conversation."""
        traces = self._traces
        traces[context.trace_id] = (context, stamp)
        if len(traces) > self.max_traces:
            self._trim()

    def _forget(self, trace_id: int, context: SpanContext) -> None:
        """Forget the trace of a local root that ended, unless another root holds it."""
        traces = self._traces
        entry = traces.pop(trace_id, None)
        if entry is not None and entry[0] is not context and entry[0] != context:
            # Another local root of the same trace (two requests of one distributed trace
            # at once) is remembered: put it back. At worst (threads) its spans outside
            # the conversation go unstamped for a moment.
            traces.setdefault(trace_id, entry)

    def _use_public_api(self) -> None:
        """From now on, go through the public Span API only (the instance's own methods)."""
        self.on_start = self._on_start_public  # type: ignore[method-assign]
        self.on_end = self._on_end_public  # type: ignore[method-assign]

    def _stamp_for(self, conv: Conversation) -> Stamp | None:
        """The attributes `conv` writes (memoised by identity), or None when none."""
        key = id(conv)
        stamps = self._stamps
        memo = stamps.get(key)
        if memo is not None and memo[0] is conv:
            stamp = memo[1]
        else:
            stamp = self._build(conv)
            if len(stamps) >= MEMO_MAX:
                stamps.clear()
            stamps[key] = (conv, stamp)
        self._last = (conv, stamp)
        return stamp

    def _build(self, conv: Conversation) -> Stamp | None:
        names = self._names
        attrs: dict[str, str] = {}
        for keys, value in (
            (names.conversation, conv.conversation_id),
            (names.user, conv.user_id),
            (names.agent, conv.agent_id),
        ):
            if value:
                for key in keys:
                    attrs[key] = value
        return (attrs, max(map(len, attrs.values()))) if attrs else None

    def _trim(self) -> None:
        """Forget the oldest traces beyond `max_traces`."""
        traces = self._traces
        with self._lock:
            try:
                while len(traces) > self.max_traces:
                    traces.pop(next(iter(traces)), None)
            except (RuntimeError, StopIteration):  # changed meanwhile (threads): next time
                pass

    def _write(self, span: Span, stamp: Stamp) -> None:
        """Add the stamp's attributes the span does not have yet.

        The public `set_attributes` re-validates every value under a lock, which costs a
        third of a whole span; these values are plain strings, so they go straight into the
        SDK span's attribute dict when nothing would be truncated or dropped by the span
        limits. Anything else goes through the public API.
        """
        attrs, longest = stamp
        bounded: Any = getattr(span, "_attributes", None)
        if type(bounded) is BoundedAttributes:
            values = bounded._dict
            maxlen = bounded.maxlen
            limit = bounded.max_value_len
            if (
                limit is None
                and (maxlen is None or maxlen >= self._pairs)
                and type(values) is dict  # (older SDKs keep an OrderedDict: updated in place)
            ):
                self._roomy = getattr(span, "_limits", None)
            if (limit is None or longest <= limit) and (
                maxlen is None or len(values) + len(attrs) <= maxlen
            ):
                if not values and type(values) is dict:
                    bounded._dict = attrs.copy()
                else:
                    for key, value in attrs.items():
                        values.setdefault(key, value)  # what the span's creator set stays
                return
        existing = span.attributes or {}
        missing = {key: value for key, value in attrs.items() if key not in existing}
        if missing:
            span.set_attributes(missing)

    @property
    def names(self) -> Names:
        """The attribute names written, by what they carry."""
        return self._names

    @property
    def traces_remembered(self) -> int:
        """How many traces are remembered right now (for tests and monitoring)."""
        return len(self._traces)

    def shutdown(self) -> None:
        """Forget every remembered trace."""
        with self._lock:
            self._traces.clear()
        self._stamps.clear()
        self._last = (_NO_CONVERSATION, None)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered: always True."""
        return True
