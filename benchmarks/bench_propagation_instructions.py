"""bench_propagation.py's cases counted in CPU instructions (needs valgrind).

Wall-clock ratios on a shared VM move by 10-20% between runs; instruction counts do not. Each
case runs in a child Python under ``valgrind --tool=cachegrind`` twice, with a small and a
large number of calls; the difference divided by the extra calls is the cost of one call,
free of start-up costs. For HTTP only the client process is counted (the local server runs in
a process of its own). Instructions are not time: read them next to bench_propagation.py's
timings, not instead of them.

Run: ``.venv/bin/python benchmarks/bench_propagation_instructions.py [--calls 200 1000]``
"""

from __future__ import annotations

import argparse

import _instructions as valgrind_counts
import bench_propagation
from bench_asgi import NullSink

import convtrack

# label -> (group, case name in bench_propagation's dicts)
CASES: dict[str, tuple[str, str]] = {
    "httpx GET, convtrack-http off": ("http", "httpx GET, convtrack-http off"),
    "httpx GET, instrumented": ("http", "instrumented"),
    "httpx GET, event hook": ("http", "event hook"),
    "(ref: the same headers set by the caller)": (
        "http",
        "reference: the same headers set by the caller",
    ),
    "(ref: the conversation header alone)": (
        "http",
        "reference: x-conversation-id alone set by the caller",
    ),
    "eager task, convtrack-celery off": ("celery", "eager delay(), convtrack-celery off"),
    "eager task, instrumented (a run each)": ("celery", "instrumented (a run each)"),
    "(ref: no-op prerun/postrun receivers)": (
        "celery",
        "reference: no-op prerun/postrun receivers",
    ),
}
GOALS = {"httpx GET, instrumented": 1.05, "eager task, instrumented (a run each)": 1.10}


def run_case(group: str, name: str, url: str, n: int) -> None:
    """The child's job: warm up, then make `n` calls of one case (what valgrind counts)."""
    convtrack.configure([NullSink()], grouping=False)
    try:
        with bench_propagation.in_a_run():
            cases = (
                bench_propagation.http_cases(url)
                if group == "http"
                else bench_propagation.celery_cases()
            )
            cases[name](50)
            cases[name](n)
    finally:
        convtrack.shutdown()


def main() -> None:
    """Count every case; print instructions per call and the ratio to its baseline."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, nargs=2, default=(200, 1000), metavar="N")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        group, name, url, n = args.child
        run_case(group, name, url, int(n))
        return
    small, large = args.calls
    with bench_propagation.local_server() as url:
        children = [[*case, url] for case in CASES.values()]
        counted = valgrind_counts.per_call(__file__, children, small, large)
    per_call = dict(zip(CASES, counted, strict=True))
    print(
        f"instructions per call ({large} - {small} calls, valgrind cachegrind,"
        f" median of hash seeds {', '.join(valgrind_counts.SEEDS)})"
    )
    for label, instructions in per_call.items():
        base = per_call[next(k for k, v in CASES.items() if v[0] == CASES[label][0])]
        goal = GOALS.get(label)
        verdict = "" if goal is None else f"  goal <= {goal}x"
        print(f"{label:<44}{instructions / 1000:>9.1f}k{instructions / base:>8.3f}x{verdict}")


if __name__ == "__main__":
    main()
