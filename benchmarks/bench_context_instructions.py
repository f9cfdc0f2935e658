"""The hot paths of `bench_context.py` counted in CPU instructions (needs valgrind).

Wall-clock ratios on this shared 2-core VM move with the load; instruction counts do not, so
before/after comparisons of the same path are read here. Each case runs in a child Python
under ``valgrind --tool=cachegrind`` twice (a small and a large number of iterations); the
difference divided by the extra iterations is the cost of one, free of start-up and imports.
A traced call's count includes the dispatcher thread's work for its run (building the `Run`,
handing it to a no-op sink). Instructions are not time: read them beside the timings.

Run: ``.venv/bin/python benchmarks/bench_context_instructions.py [--iterations 2000 12000]``
"""

from __future__ import annotations

import argparse

import _instructions as valgrind_counts
import bench_context

import convtrack

CASES = {
    "bare ContextVar set+reset": bench_context.bare_set_reset,
    "(ref: with EmptyScope(...), a bare class CM)": bench_context.enter_empty_scope,
    'with conversation("conv-42")': bench_context.enter_conversation,
    "plain call": bench_context.call_plain,
    "@conversation call": bench_context.call_decorated,
    "(ref: Traceloop's way: OTel attach(set_value()) + detach)": bench_context.otel_attach_detach,
    "set_conversation_id() + reset(token)": bench_context.set_and_reset,
    "@trace() call (configured, no-op sink)": bench_context.call_traced,
    "(ref: the call in an OTel SDK span)": bench_context.call_in_span,
}
_CONFIGURED = {"@trace() call (configured, no-op sink)"}


def run_case(label: str, n: int) -> None:
    """The child's job: warm up, then `n` iterations of one case (what valgrind counts)."""
    loop = CASES[label]
    if label in _CONFIGURED:
        convtrack.configure([bench_context.NullSink()], grouping=False, capture_content=True)
    try:
        with convtrack.conversation("bench") if label in _CONFIGURED else _nothing():
            loop(200)
            loop(n)
        convtrack.flush(30.0)  # the dispatcher's work for these runs is counted too
    finally:
        convtrack.shutdown()


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def main() -> None:
    """Count every case; print instructions per iteration and the ratios the goals use."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, nargs=2, default=(2000, 12000), metavar="N")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_case(args.child[0], int(args.child[1]))
        return
    small, large = args.iterations
    counted = valgrind_counts.per_call(__file__, [[label] for label in CASES], small, large)
    each = dict(zip(CASES, counted, strict=True))
    print(
        f"instructions per iteration ({large} - {small} iterations, valgrind cachegrind,"
        f" median of hash seeds {', '.join(valgrind_counts.SEEDS)})"
    )
    for label, value in each.items():
        print(f"  {label:<58}{value:>9.0f}")
    floor, plain = each["bare ContextVar set+reset"], each["plain call"]
    span = each["(ref: the call in an OTel SDK span)"] - plain
    ratios = {
        'with conversation("id") / EmptyScope (goal <= 1.5)': each['with conversation("conv-42")']
        / each["(ref: with EmptyScope(...), a bare class CM)"],
        "@conversation overhead / set+reset floor (goal <= 2)": (each["@conversation call"] - plain)
        / floor,
        "set_conversation_id+reset / Traceloop's way (goal <= 1)": each[
            "set_conversation_id() + reset(token)"
        ]
        / each["(ref: Traceloop's way: OTel attach(set_value()) + detach)"],
        "trace() added / an OTel SDK span (goal <= 0.25)": (
            each["@trace() call (configured, no-op sink)"] - plain
        )
        / span,
    }
    for name, value in ratios.items():
        print(f"  {name:<58}{value:>9.3f}")


if __name__ == "__main__":
    main()
