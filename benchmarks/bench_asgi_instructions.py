"""Per-request cost of ConversationMiddleware counted in CPU instructions (needs valgrind).

Wall-clock ratios on a shared VM move by 10-20% between runs; instruction counts do not. Each
case runs the apps of ``bench_asgi.py`` in a child Python under ``valgrind --tool=cachegrind``
twice, with a small and a large number of requests; the difference divided by the extra
requests is the cost of one request, free of start-up and import costs. Instructions are not
time (cache misses and branch mispredictions are not counted), so read them as the shape of
the cost next to ``bench_asgi.py``'s timings, not instead of them.

Run: ``.venv/bin/python benchmarks/bench_asgi_instructions.py [--requests 500 2500]``
"""

from __future__ import annotations

import argparse
import asyncio

import _instructions as valgrind_counts
import bench_asgi
from convtrack_asgi import ConversationMiddleware

import convtrack

# label -> (middleware, client sends an id, recorded)
CASES: dict[str, tuple[str, bool, bool]] = {
    "bare Starlette app": ("bare", True, False),
    "(ref: minimal echo middleware)": ("echo", True, False),
    "not configured, id sent": ("conv", True, False),
    "not configured, id generated": ("conv", False, False),
    "(ref: core run only)": ("run", True, True),
    "recorded, id sent": ("conv", True, True),
    "recorded, id generated": ("conv", False, True),
}
MIDDLEWARE = {
    "bare": None,
    "echo": bench_asgi.MinimalEchoMiddleware,
    "conv": ConversationMiddleware,
    "run": bench_asgi.RunOnlyMiddleware,
}


def serve(middleware: str, with_id: bool, recorded: bool, n: int) -> None:
    """The child's job: warm up, then serve `n` requests (what valgrind counts)."""
    app = bench_asgi.make_app(MIDDLEWARE[middleware])
    if recorded:
        convtrack.configure([bench_asgi.NullSink()], grouping=False)
    scope = bench_asgi.make_scope(with_id)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(bench_asgi.run_requests(app, scope, 200))
        loop.run_until_complete(bench_asgi.run_requests(app, scope, n))
    finally:
        loop.close()
        if recorded:
            convtrack.shutdown()


def main() -> None:
    """Count every case and print instructions per request and the ratio to the bare app."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, nargs=2, default=(500, 2500), metavar="N")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        middleware, with_id, recorded, n = args.child
        serve(middleware, with_id == "1", recorded == "1", int(n))
        return
    small, large = args.requests
    children = [
        [middleware, str(int(with_id)), str(int(recorded))]
        for middleware, with_id, recorded in CASES.values()
    ]
    counted = valgrind_counts.per_call(__file__, children, small, large)
    per_request = dict(zip(CASES, counted, strict=True))
    bare = per_request["bare Starlette app"]
    print(
        f"instructions per request ({large} - {small} requests, valgrind cachegrind,"
        f" median of hash seeds {', '.join(valgrind_counts.SEEDS)})"
    )
    for label, instructions in per_request.items():
        goal = next((g for case, g in bench_asgi.GOALS.items() if label.startswith(case)), None)
        verdict = "" if goal is None else f"  goal <= {goal}x"
        print(f"{label:<34}{instructions / 1000:>9.1f}k{instructions / bare:>8.3f}x{verdict}")


if __name__ == "__main__":
    main()
