"""SQLiteSink throughput, with memory bounded.

Goal (issue 2): >= 50,000 runs/s.  Two figures, medians of 3 rounds of 100,000 LLM-sized runs:
- sink: `SQLiteSink.export()` of ready `Run`s in dispatcher-sized batches (what the store takes);
- pipeline: runs emitted by the application thread, built and exported by the dispatcher
  thread into the same store (both threads share one GIL), with the queue bound (65,536)
  keeping memory flat; runs per second of wall time until `flush()` returns.
Run: `.venv/bin/python benchmarks/bench_sqlite.py`.
"""

from __future__ import annotations

import resource
import statistics
import tempfile
import time
from pathlib import Path

import convtrack as ct
from convtrack import _start

RUNS = 100_000
BATCH = 2048


def emit(n: int) -> None:
    start_run, kind = _start.start_run, ct.RunKind.LLM
    with ct.conversation("throughput", user_id="bench-user"):
        for i in range(n):
            run = start_run(kind, "chat", source="bench", inputs={"q": "hello"}, model="m")
            assert run is not None
            run.end(outputs={"a": i}, usage={"input_tokens": 5, "output_tokens": 7})


def sink_round(path: Path) -> float:
    memory = ct.MemorySink()
    ct.configure([memory], grouping=False, max_queue_size=RUNS)
    emit(RUNS)
    ct.shutdown(120)
    runs = memory.runs
    sink = ct.SQLiteSink(path)
    start = time.perf_counter()
    for i in range(0, len(runs), BATCH):
        sink.export(runs[i : i + BATCH])
    elapsed = time.perf_counter() - start
    sink.close()
    return len(runs) / elapsed


def pipeline_round(path: Path) -> tuple[float, int]:
    ct.configure([ct.SQLiteSink(path)], grouping=False, batch_size=BATCH)
    start = time.perf_counter()
    emit(RUNS)
    ct.flush(300)
    elapsed = time.perf_counter() - start
    stats = ct.stats()
    ct.shutdown()
    return stats["exported"] / elapsed, stats["dropped"]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sink_rates = [sink_round(Path(tmp) / f"sink-{i}.db") for i in range(3)]
        pipeline = [pipeline_round(Path(tmp) / f"pipe-{i}.db") for i in range(3)]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"SQLiteSink.export, batches of {BATCH}: median {statistics.median(sink_rates):,.0f} runs/s"
    )
    rates = [rate for rate, _ in pipeline]
    dropped = [d for _, d in pipeline]
    print(
        f"pipeline (emit -> dispatcher -> SQLite): median {statistics.median(rates):,.0f} runs/s"
        f" stored, dropped per round {dropped}"
    )
    print(f"peak RSS of this process: {rss:.0f} MiB (queue bound 65,536 runs)")


if __name__ == "__main__":
    main()
