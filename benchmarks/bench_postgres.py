"""The PostgreSQL store: write throughput of 4 processes, and queries at 100k and 1M runs.

Goals (issue 18), every figure measured in this run:
- 4 writer processes to one PostgreSQL, the summaries maintained: >= 20,000 runs/s
  sustained, quoted beside 4 processes writing one SQLite file (the same runs), in rounds
  that alternate the two stores (the machine may be shared: the range is printed, with the
  load average, and the CPU time a run costs in the writers and in the server);
- newest 50 / by user / by metadata / by text at 1M runs, each <= 3x its time at 100k.
The server is started here (Debian's `postgresql`, as in the tests) with PostgreSQL's
durable defaults (fsync on). The runs are `bench_store.py`'s (10 a conversation: a chain,
8 LLM calls, a tool call), exported in batches of 2,048; the query stores are filled by 4
processes; each question is timed on both stores in turn, 5 rounds of 7 (median).
Run: `.venv/bin/python benchmarks/bench_postgres.py` (`--small`: 10k and 100k runs;
`--rounds N`: write rounds, default 3).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sqlite3
import statistics
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


def _writer(
    store: str, schema: str, first: int, conversations: int, start: Any, cpu: Any, slot: int
) -> None:
    sink = _open(store, schema)
    work = list(batches(conversations, first))
    start.wait(600)
    began = time.process_time()
    for batch in work:
        for attempt in range(100):  # as the pipeline does: a busy store is tried again
            try:
                sink.export(batch)
                break
            except sqlite3.OperationalError:
                time.sleep(0.05 * (attempt + 1))
    cpu[slot] = time.process_time() - began
    sink.close()


def _server_cpu(server: Any) -> float:
    """CPU seconds the server's processes used so far (those ended included)."""
    pid = (server.data / "postmaster.pid").read_text().split()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


_exporting: list[float] = []  # CPU seconds the writers of the last round spent exporting


def throughput(store: str, schema: str, conversations: int) -> float:
    """Runs/s of 4 processes exporting their own conversations to one store at once."""
    _open(store, schema).close()
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WRITERS + 1)
    cpu = context.Array("d", WRITERS)
    share = conversations // WRITERS
    writers = [
        context.Process(target=_writer, args=(store, schema, w * share, share, start, cpu, w))
        for w in range(WRITERS)
    ]
    for writer in writers:
        writer.start()
    start.wait(600)
    began = time.perf_counter()
    for writer in writers:
        writer.join()
    elapsed = time.perf_counter() - began
    assert all(w.exitcode == 0 for w in writers)
    _exporting[:] = [float(cpu[w]) for w in range(WRITERS)]
    return WRITERS * share * 10 / elapsed


def questions(sink: Any, conversations: int) -> dict[str, Callable[[], object]]:
    """The store-scale questions, asked of a filled store."""
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
    return cases


def queries(url: str, sizes: tuple[int, int], rounds: int = 5) -> dict[int, dict[str, float]]:
    """Milliseconds of each question on each filled store: the median of `rounds` rounds,
    each asking both stores in turn (so that the machine's load weighs on both alike)."""
    from convtrack_postgres import PostgresSink

    sinks = {size: PostgresSink(url, schema=f"q{size}") for size in sizes}
    asked = {}
    for size, sink in sinks.items():
        sink.vacuum()
        asked[size] = questions(sink, size)
    times: dict[int, dict[str, list[float]]] = {size: {} for size in sizes}
    for _ in range(rounds):
        for size in sizes:
            for name, call in asked[size].items():
                times[size].setdefault(name, []).append(median_ms(call))
    for sink in sinks.values():
        sink.close()
    return {
        size: {name: statistics.median(found) for name, found in by_name.items()}
        for size, by_name in times.items()
    }


def writes(server: Any, url: str, conversations: int, rounds: int) -> None:
    """Print the write rounds (PostgreSQL and SQLite alternating) and their ranges."""
    pg: list[float] = []
    lite: list[float] = []
    cpu: list[float] = []  # seconds of CPU a run costs, writers and server together
    runs = conversations * 10
    print(f"4 writer processes, {runs:,} runs a round, summaries maintained:")
    for n in range(rounds):
        load = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as tmp:
            lite.append(throughput(str(Path(tmp) / "w.db"), "", conversations))
        served = _server_cpu(server)
        pg.append(throughput(url, f"writes{n}", conversations))
        writers, served = sum(_exporting), _server_cpu(server) - served
        cpu.append((writers + served) / runs)
        print(
            f"  round {n + 1}: PostgreSQL {pg[-1]:,.0f} runs/s   SQLite {lite[-1]:,.0f} runs/s"
            f"   (load average {load:.1f}; CPU a run: writers {writers / runs * 1e6:.0f} us,"
            f" server {served / runs * 1e6:.0f} us)"
        )
    print(
        f"  PostgreSQL {min(pg):,.0f}-{max(pg):,.0f} runs/s (median {statistics.median(pg):,.0f})"
        f"   SQLite {min(lite):,.0f}-{max(lite):,.0f} runs/s"
        f" (median {statistics.median(lite):,.0f})"
    )
    print(f"  goal >= 20,000 runs/s: {'met' if statistics.median(pg) >= 20_000 else 'missed'}")
    cores = os.cpu_count() or 1
    print(
        f"  the CPU a run costs allows at most {cores / statistics.median(cpu):,.0f} runs/s on"
        f" {cores} cores with nothing else running (the rate above is what the load left)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="10k and 100k runs")
    parser.add_argument("--rounds", type=int, default=3, help="write rounds")
    args = parser.parse_args()
    sizes = (1_000, 10_000) if args.small else (10_000, 100_000)  # conversations
    server = _server()
    try:
        url = server.create_database("bench")
        writes(server, url, 2_000 if args.small else 10_000, args.rounds)
        for size in sizes:
            load = os.getloadavg()[0]
            rate = throughput(url, f"q{size}", size)
            print(f"filled {size * 10:,} runs by 4 processes: {rate:,.0f} runs/s (load {load:.1f})")
        found = queries(url, sizes)
        small, large = sizes
        print(f"\n{'question':28} {small * 10:>10,} {large * 10:>12,} runs   growth (<= 3x)")
        for name in found[small]:
            a, b = found[small][name], found[large][name]
            verdict = "met" if b <= 3 * a else "missed"
            print(f"{name:28} {a:9.3f} ms {b:9.3f} ms   {b / a:5.2f}x {verdict}")
    finally:
        server.remove()


if __name__ == "__main__":
    main()
