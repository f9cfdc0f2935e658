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
- root span, no conversation: nothing to stamp (unrelated spans of the application);
- reference: the same three attributes through the public `span.set_attributes`.

Goal: the processor adds <= 10% of an SDK span's cost. The machine this runs on is shared, so
each case runs next to its baseline in many short rounds (shuffled); the script prints the
median ns per span with and without the processor, the added cost, and the median of the
per-round ratios.

Run: ``.venv/bin/python benchmarks/bench_otel.py [--spans 300] [--rounds 401]``
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import ClassVar

from convtrack_otel import ConversationSpanProcessor
from opentelemetry import trace
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


def per_span_ns(loop: Loop, n: int) -> float:
    """ns per iteration of `loop(n)`."""
    start = time.perf_counter_ns()
    loop(n)
    return (time.perf_counter_ns() - start) / n


def measure(
    pairs: dict[str, tuple[Loop, Loop]], n: int, rounds: int
) -> dict[str, tuple[list[float], list[float]]]:
    """Per case, ns per span with the processor and without, in `rounds` short rounds.

    Each round runs every case next to its baseline (in a random order, cases shuffled), so
    that a burst of load on the machine hits both sides of a ratio alike.
    """
    samples: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in pairs}
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
                    samples[name][0].append(per_span_ns(ours, n))
                    samples[name][1].append(per_span_ns(theirs, n))
                else:
                    samples[name][1].append(per_span_ns(theirs, n))
                    samples[name][0].append(per_span_ns(ours, n))
    finally:
        gc.enable()
    return samples


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=300, help="spans per round and case")
    parser.add_argument("--rounds", type=int, default=401)
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
        "root span, no conversation": (roots(stamped, False), roots(base, False)),
        "reference: public set_attributes (root)": (roots(public, True), roots(base, True)),
        "reference: a processor doing nothing (root)": (roots(empty, True), roots(base, True)),
    }
    samples = measure(pairs, args.spans, args.rounds)

    print(f"ns per span (start + end): medians of {args.rounds} rounds of {args.spans} spans")
    print(f"  {'case':<44} {'with':>8} {'without':>8} {'added':>7} {'ratio':>6}")
    for name, (ours, theirs) in samples.items():
        ratio = statistics.median(a / b for a, b in zip(ours, theirs, strict=True))
        with_, without = statistics.median(ours), statistics.median(theirs)
        verdict = "" if name.startswith("reference") else ("ok" if ratio <= 1 + GOAL else "OVER")
        print(
            f"  {name:<44} {with_:>8.0f} {without:>8.0f} {with_ - without:>7.0f}"
            f" {ratio:>6.3f}  {verdict}"
        )
    print(
        f"ratio: the median of the per-round ratios; goal: <= {1 + GOAL:.2f} (the processor "
        f"adds <= {GOAL:.0%} of an SDK span's cost)"
    )
    for tp in (base, stamped, no_memory, public, empty):
        tp.shutdown()


if __name__ == "__main__":
    main()
