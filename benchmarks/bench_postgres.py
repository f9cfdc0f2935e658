"""The PostgreSQL store: write throughput of 4 processes, and queries at 100k and 1M runs.

Goals (issue 18), every figure measured in this run:
- 4 writer processes to one PostgreSQL, the summaries maintained: >= 20,000 runs/s
  sustained, quoted beside 4 processes writing one SQLite file (the same runs);
- newest 50 / by user / by metadata / by text at 1M runs, each <= 3x its time at 100k.
The server is started here (Debian's `postgresql`, as in the tests) with PostgreSQL's
durable defaults (fsync on). The runs are `bench_store.py`'s (10 a conversation: a chain,
8 LLM calls, a tool call), exported in batches of 2,048; queries are medians of 7 rounds.
Run: `.venv/bin/python benchmarks/bench_postgres.py` (`--small`: 10k and 100k runs).
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_store import batches, median_ms

from convtrack import SQLiteSink

ROOT = Path(__file__).resolve().parent.parent
WRITERS = 4


def _server() -> Any:
    sys.path.insert(0, str(ROOT / "tests" / "integrations" / "postgres"))
    from pg_support import PostgresServer

    server = PostgresServer(durable=True)
    server.start()
    return server


def _open(store: str, schema: str) -> Any:
    if store.startswith("postgresql://"):
        from convtrack_postgres import PostgresSink

        return PostgresSink(store, schema=schema)
    return SQLiteSink(store)


def _writer(store: str, schema: str, first: int, conversations: int, start: Any) -> None:
    sink = _open(store, schema)
    work = list(batches(conversations, first))
    start.wait(120)
    for batch in work:
        sink.export(batch)
    sink.close()


def throughput(store: str, schema: str, conversations: int) -> float:
    """Runs/s of 4 processes exporting their own conversations to one store at once."""
    _open(store, schema).close()
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WRITERS + 1)
    share = conversations // WRITERS
    writers = [
        context.Process(target=_writer, args=(store, schema, w * share, share, start))
        for w in range(WRITERS)
    ]
    for writer in writers:
        writer.start()
    start.wait(120)
    began = time.perf_counter()
    for writer in writers:
        writer.join()
    elapsed = time.perf_counter() - began
    assert all(w.exitcode == 0 for w in writers)
    return WRITERS * share * 10 / elapsed


def queries(url: str, schema: str, conversations: int) -> dict[str, float]:
    """Median milliseconds of each question on a filled store."""
    from convtrack_postgres import PostgresSink

    sink = PostgresSink(url, schema=schema)
    sink.vacuum()
    middle = conversations // 2
    cases: dict[str, Callable[[], object]] = {
        "newest 50": lambda: sink.conversations(50),
        "by user": lambda: sink.conversations(50, user_id="user-00007"),
        "by metadata key/value": lambda: sink.conversations(
            50, metadata={"customer_id": f"cust-{middle}"}
        ),
        "by text": lambda: sink.conversations(50, text=f"order {middle}"),
        "errors only": lambda: sink.conversations(50, status="error"),
        "one conversation's runs": lambda: sink.runs(f"conv-{middle:07d}"),
    }
    assert len(sink.conversations(50, metadata={"customer_id": f"cust-{middle}"})) == 1
    assert len(sink.conversations(50, text=f"order {middle}")) == 1
    found = {name: median_ms(call) for name, call in cases.items()}
    sink.close()
    return found


def fill(url: str, schema: str, conversations: int) -> None:
    """Fill a store with `conversations` conversations (one process)."""
    from convtrack_postgres import PostgresSink

    sink = PostgresSink(url, schema=schema)
    for batch in batches(conversations):
        sink.export(batch)
    sink.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="10k and 100k runs")
    args = parser.parse_args()
    sizes = (1_000, 10_000) if args.small else (10_000, 100_000)  # conversations
    server = _server()
    try:
        url = server.create_database("bench")
        writes = 2_000 if args.small else 10_000
        with tempfile.TemporaryDirectory() as tmp:
            sqlite_rate = throughput(str(Path(tmp) / "w.db"), "", writes)
        pg_rate = throughput(url, "writes", writes)
        print(f"4 writer processes, {writes * 10:,} runs, summaries maintained:")
        print(f"  PostgreSQL {pg_rate:,.0f} runs/s   SQLite (one file) {sqlite_rate:,.0f} runs/s")
        print(f"  goal >= 20,000 runs/s: {'met' if pg_rate >= 20_000 else 'missed'}")
        found = {}
        for size in sizes:
            schema = f"q{size}"
            began = time.perf_counter()
            fill(url, schema, size)
            took = time.perf_counter() - began
            print(f"filled {size * 10:,} runs in {took:.1f} s ({size * 10 / took:,.0f} runs/s)")
            found[size] = queries(url, schema, size)
        small, large = sizes
        print(f"\n{'question':28} {small * 10:>10,} {large * 10:>12,} runs   growth (<= 3x)")
        for name in found[small]:
            a, b = found[small][name], found[large][name]
            print(f"{name:28} {a:9.3f} ms {b:9.3f} ms   {b / a:5.2f}x")
    finally:
        server.remove()


if __name__ == "__main__":
    main()
