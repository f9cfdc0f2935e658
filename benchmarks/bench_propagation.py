"""The added cost of carrying the conversation across processes (convtrack-http, -celery).

- HTTP: an httpx GET to a local keep-alive server (uvicorn, another process) made inside a
  conversation and a run, with `convtrack_http.instrument()` on (headers + baggage with the
  parent run) against the same request with it off; also the explicit event hook. Goal:
  <= 1.05x.
  References: the same headers set by the caller as the client's defaults, and the
  conversation header alone (what httpx itself costs per header: the floor).
- Celery: `task.delay()` with eager execution (`task_always_eager`), inside a conversation
  and a run, convtrack configured with a no-op sink (so each execution records its run),
  with `convtrack_celery.instrument()` on (a wrapper of Celery's tracer) against off. Goal:
  <= 1.10x. Reference: two no-op `task_prerun`/`task_postrun` receivers (the signal seam's
  own cost).

Rounds are interleaved (instrumentation turned on and off between batches) and medians
compared, so both sides of each ratio come from the same run.

Run: ``.venv/bin/python benchmarks/bench_propagation.py [--requests 200] [--tasks 2000]``
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import convtrack_celery
import convtrack_http
import httpx
from _timing import compare, report
from bench_asgi import NullSink
from celery import Celery, signals

import convtrack
from convtrack.instrumentation import start_run, use_run

GOALS = {"http": 1.05, "celery": 1.10}


# The local server: uvicorn (httptools) with a raw ASGI app, in a process of its own so that
# parsing the request's headers does not share the benchmark's GIL.
_SERVER = """
import sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False)
"""


@contextmanager
def local_server() -> Iterator[str]:
    """A local HTTP server in another process; yields its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-c", _SERVER, str(port)])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the local server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.terminate()
        server.wait(10)


@contextmanager
def in_a_run() -> Iterator[None]:
    """Inside a conversation and a run: the most convtrack-http has to send."""
    with convtrack.conversation("bench-conversation", user_id="bench-user"):
        run = start_run("chain", "bench", source="bench")
        with use_run(run):
            yield
        run.end()


def http_cases(url: str) -> dict[str, Callable[[int], None]]:
    """The HTTP loops: off, on (global patch), and the explicit hook."""
    plain = httpx.Client()
    hooked = httpx.Client(event_hooks={"request": [convtrack_http.Propagator().httpx_hook]})

    def off(n: int) -> None:
        convtrack_http.uninstrument()
        for _ in range(n):
            plain.get(url)

    def on(n: int) -> None:
        convtrack_http.instrument()
        for _ in range(n):
            plain.get(url)

    def hook(n: int) -> None:
        convtrack_http.uninstrument()
        for _ in range(n):
            hooked.get(url)

    with convtrack.conversation("bench-conversation"):
        run = start_run("chain", "bench", source="bench")
        with use_run(run):  # the headers convtrack-http sends, as the client's own defaults
            sent = convtrack_http.Propagator().outgoing_headers()
        run.end()
    carrying = httpx.Client(headers=sent)
    one_header = httpx.Client(headers={"x-conversation-id": sent["x-conversation-id"]})

    def caller_sets(client: httpx.Client) -> Callable[[int], None]:
        def loop(n: int) -> None:
            convtrack_http.uninstrument()
            for _ in range(n):
                client.get(url)

        return loop

    return {
        "httpx GET, convtrack-http off": off,
        "instrumented": on,
        "event hook": hook,
        "reference: the same headers set by the caller": caller_sets(carrying),
        "reference: x-conversation-id alone set by the caller": caller_sets(one_header),
    }


def celery_cases() -> dict[str, Callable[[int], None]]:
    """The eager task loops: convtrack-celery off and on."""
    app = Celery("bench", broker="memory://", backend="cache+memory://")
    app.conf.task_always_eager = True
    app.conf.task_store_eager_result = False

    @app.task(name="bench.add")
    def add(x: int, y: int) -> int:
        return x + y

    def off(n: int) -> None:
        convtrack_celery.uninstrument()
        for _ in range(n):
            add.delay(1, 2)

    def on(n: int) -> None:
        convtrack_celery.instrument()
        for _ in range(n):
            add.delay(1, 2)

    def noop(**_: object) -> None:
        """A receiver that does nothing: what Celery's signal dispatch alone costs."""

    def floor(n: int) -> None:
        convtrack_celery.uninstrument()
        signals.task_prerun.connect(noop, weak=False)
        signals.task_postrun.connect(noop, weak=False)
        try:
            for _ in range(n):
                add.delay(1, 2)
        finally:
            signals.task_prerun.disconnect(noop)
            signals.task_postrun.disconnect(noop)

    return {
        "eager delay(), convtrack-celery off": off,
        "instrumented (a run each)": on,
        "reference: no-op prerun/postrun receivers": floor,
    }


def one_run(n: int) -> None:
    """Start and end `n` runs the way convtrack-celery does (the run's own cost)."""
    for _ in range(n):
        start_run("function", "bench.add", source="bench", metadata={"celery": True}).end()


def ratio(medians: dict[str, float], name: str, goal: float) -> None:
    """Print one case's ratio to the first case, against its goal."""
    base = next(iter(medians.values()))
    value = medians[name] / base
    verdict = "met" if value <= goal else "missed"
    print(f"  -> {name}: {value:.3f}x (goal <= {goal:.2f}x: {verdict})")


def main() -> None:
    """Measure and print both comparisons."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per batch")
    parser.add_argument("--tasks", type=int, default=2000, help="eager tasks per batch")
    parser.add_argument("--rounds", type=int, default=21, help="interleaved batches per case")
    args = parser.parse_args()
    convtrack.configure([NullSink()], grouping=False)
    try:
        with local_server() as url, in_a_run():
            medians = compare(http_cases(url), n=args.requests, rounds=args.rounds)
            report(
                "HTTP: one httpx request to a local server",
                medians,
                "httpx GET, convtrack-http off",
            )
            ratio(medians, "instrumented", GOALS["http"])
            ratio(medians, "event hook", GOALS["http"])
        with in_a_run():
            medians = compare(celery_cases(), n=args.tasks, rounds=args.rounds)
            report("Celery: one eager task", medians, "eager delay(), convtrack-celery off")
            ratio(medians, "instrumented (a run each)", GOALS["celery"])
        with in_a_run():
            medians = compare({"a run started and ended": one_run}, n=args.tasks, rounds=5)
            report(
                "The run itself (convtrack.instrumentation.start_run + end)",
                medians,
                "a run started and ended",
            )
    finally:
        convtrack_http.uninstrument()
        convtrack_celery.uninstrument()
        convtrack.shutdown()


if __name__ == "__main__":
    main()
