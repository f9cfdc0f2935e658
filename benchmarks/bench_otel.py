"""Per-span cost of ConversationSpanProcessor on an OpenTelemetry SDK tracer provider.

Each case starts and ends spans on an SDK provider (the default synchronous processor chain,
a SimpleSpanProcessor handing every span to a no-op exporter: an exporting processor without
a background thread, whose wake-ups would blur the numbers), once without the processor (the
baseline) and once with it in front:

- root span, in a conversation: every span a new trace whose root began inside a
  conversation: stamped, remembered for its trace, forgotten when it ends (the worst case);
- the same with `max_traces=0` (no per-trace memory: stamped only);
- child span, in a conversation: the common case (a span inside a request's trace);
- child span, trace remembered: started outside any conversation, in a trace whose root
  began inside one (stamped from the per-trace memory);
- child span, conversations interleaved: children in two conversations, alternately (as
  concurrent requests' tasks are): the stamp of each conversation comes from a memo;
- root span, no conversation: nothing to stamp (unrelated spans of the application; one trace
  of the same processor is remembered, as in a busy application);
- reference: the same three attributes through the public `span.set_attributes`;
- reference: a processor that does nothing (the SDK's own cost of one more processor).

Goal: the processor adds <= 10% of an SDK span's cost. The machine this runs on is shared, so
each case runs next to its baseline in many short rounds: in each round the cases come in a
random order, and each case runs as A B B A (or B A A B) with its baseline, so that a drift or
a burst of load on the machine hits both sides of a ratio alike. The script prints, per case,
the median ns per span with and without the processor, the median of the per-round added
costs and of the per-round ratios, the middle half of the ratios (25th-75th percentile), and
the ratio of the two sides' fastest tenths (10th percentiles: the rounds the machine's load
disturbed least; the noise only ever adds time).

Run: ``.venv/bin/python benchmarks/bench_otel.py [--spans 100] [--rounds 301]``
"""

from __future__ import annotations

import argparse
import contextvars
import gc
import random
import statistics
from collections.abc import Callable, Sequence
from typing import ClassVar, NamedTuple

from _timing import per_call_ns
from convtrack_otel import ConversationSpanProcessor
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

import convtrack

GOAL = 0.10  # the processor's added cost, as a share of the baseline span's


class NullExporter(SpanExporter):
    """Accepts every batch and does nothing (measures the spans, not an export)."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Drop the spans."""
        return SpanExportResult.SUCCESS


class PublicAPIStamp(SpanProcessor):
    """Reference: the three attributes through the public `set_attributes` (re-validated)."""

    ATTRS: ClassVar[dict[str, str]] = {
        "gen_ai.conversation.id": "conv-42",
        "session.id": "conv-42",
        "user.id": "alice",
    }

    def on_start(self, span: Span, parent_context: object = None) -> None:
        """Stamp with the public API."""
        span.set_attributes(self.ATTRS)


def provider(processor: SpanProcessor | None) -> TracerProvider:
    """A provider exporting to a no-op exporter, with `processor` in front if given."""
    tp = TracerProvider(shutdown_on_exit=False)
    if processor is not None:
        tp.add_span_processor(processor)
    tp.add_span_processor(SimpleSpanProcessor(NullExporter()))
    return tp


Loop = Callable[[int], None]


def roots(tp: TracerProvider, conversation: bool) -> Loop:
    """n root spans, inside a conversation or not."""
    start = tp.get_tracer("bench").start_span

    def loop(n: int) -> None:
        for _ in range(n):
            start("step").end()

    if not conversation:
        return loop

    def in_conversation(n: int) -> None:
        with convtrack.conversation("conv-42", user_id="alice"):
            loop(n)

    return in_conversation


def children(tp: TracerProvider, conversation: bool) -> Loop:
    """n children of one root that began in a conversation; inside it, or outside it."""
    tracer = tp.get_tracer("bench")
    with convtrack.conversation("conv-42", user_id="alice"):
        root = tracer.start_span("root")  # never ended: its trace stays remembered
    context = trace.set_span_in_context(root)
    start = tracer.start_span

    def loop(n: int) -> None:
        for _ in range(n):
            start("step", context=context).end()

    if not conversation:
        return loop

    def in_conversation(n: int) -> None:
        with convtrack.conversation("conv-42", user_id="alice"):
            loop(n)

    return in_conversation


def interleaved(tp: TracerProvider) -> Loop:
    """n children, alternately in two conversations (each in its own context, as tasks are)."""
    tracer = tp.get_tracer("bench")
    contexts = []
    for conversation_id in ("conv-a", "conv-b"):
        with convtrack.conversation(conversation_id, user_id="alice"):
            root = tracer.start_span("root")  # never ended, like a request's
            contexts.append((contextvars.copy_context(), trace.set_span_in_context(root)))
    (run_a, parent_a), (run_b, parent_b) = ((ctx.run, parent) for ctx, parent in contexts)
    start = tracer.start_span

    def step(parent: Context) -> None:
        start("step", context=parent).end()

    def loop(n: int) -> None:
        for _ in range(n // 2):
            run_a(step, parent_a)
            run_b(step, parent_b)

    return loop


class Sample(NamedTuple):
    """One round of one case: ns per span with the processor, without it, and their ratio."""

    with_: float
    without: float

    @property
    def ratio(self) -> float:
        """With / without."""
        return self.with_ / self.without


def measure(pairs: dict[str, tuple[Loop, Loop]], n: int, rounds: int) -> dict[str, list[Sample]]:
    """Per case, `rounds` samples of ns per span with the processor and without it.

    In each round the cases come in a random order, and each case runs A B B A (or B A A B,
    at random) with its baseline, n spans each time: a drift of the machine's speed within
    the round cancels out, and a burst of load hits both sides alike more often than not
    (the medians take care of the rest).
    """
    samples: dict[str, list[Sample]] = {name: [] for name in pairs}
    order = list(pairs.items())
    for _, (ours, theirs) in order:  # warm up
        ours(n)
        theirs(n)
    gc.disable()
    try:
        for _ in range(rounds):
            random.shuffle(order)
            for name, (ours, theirs) in order:
                if random.random() < 0.5:
                    a = per_call_ns(ours, n)
                    b = per_call_ns(theirs, n) + per_call_ns(theirs, n)
                    a += per_call_ns(ours, n)
                else:
                    b = per_call_ns(theirs, n)
                    a = per_call_ns(ours, n) + per_call_ns(ours, n)
                    b += per_call_ns(theirs, n)
                samples[name].append(Sample(a / 2, b / 2))
    finally:
        gc.enable()
    return samples


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    """The 25th and 75th percentiles."""
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def fastest_tenth(values: Sequence[float]) -> float:
    """The 10th percentile."""
    return statistics.quantiles(values, n=10)[0]


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=100, help="spans per run (4 runs a round)")
    parser.add_argument("--rounds", type=int, default=301)
    args = parser.parse_args()

    base = provider(None)
    stamped = provider(ConversationSpanProcessor())
    no_memory = provider(ConversationSpanProcessor(max_traces=0))
    public = provider(PublicAPIStamp())
    empty = provider(SpanProcessor())
    pairs = {  # case: (with the processor, its baseline)
        "root span, in a conversation": (roots(stamped, True), roots(base, True)),
        "root span, in a conversation, max_traces=0": (roots(no_memory, True), roots(base, True)),
        "child span, in a conversation": (children(stamped, True), children(base, True)),
        "child span, trace remembered": (children(stamped, False), children(base, False)),
        "child span, conversations interleaved": (interleaved(stamped), interleaved(base)),
        "root span, no conversation": (roots(stamped, False), roots(base, False)),
        "reference: public set_attributes (root)": (roots(public, True), roots(base, True)),
        "reference: a processor doing nothing (root)": (roots(empty, True), roots(base, True)),
    }
    samples = measure(pairs, args.spans, args.rounds)

    print(f"ns per span (start + end): medians of {args.rounds} rounds (4 x {args.spans} spans)")
    print(
        f"  {'case':<44} {'with':>7} {'without':>7} {'added':>6} {'ratio':>6}"
        f"  {'middle half':>11}  {'p10':>5}"
    )
    for name, rows in samples.items():
        ratios = [row.ratio for row in rows]
        ratio = statistics.median(ratios)
        low, high = quartiles(ratios)
        with_ = statistics.median(row.with_ for row in rows)
        without = statistics.median(row.without for row in rows)
        added = statistics.median(row.with_ - row.without for row in rows)
        fast = fastest_tenth([row.with_ for row in rows]) / fastest_tenth(
            [row.without for row in rows]
        )
        verdict = "" if name.startswith("reference") else ("ok" if ratio <= 1 + GOAL else "OVER")
        print(
            f"  {name:<44} {with_:>7.0f} {without:>7.0f} {added:>6.0f} {ratio:>6.3f}"
            f"  {low:.3f}-{high:.3f}  {fast:.3f}  {verdict}"
        )
    print(
        f"added, ratio: medians of the per-round differences and ratios; p10: the ratio of the "
        f"fastest tenths;\ngoal: ratio <= {1 + GOAL:.2f} (the processor adds <= {GOAL:.0%} of an "
        "SDK span's cost)"
    )
    for tp in (base, stamped, no_memory, public, empty):
        tp.shutdown()


if __name__ == "__main__":
    main()
