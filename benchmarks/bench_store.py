"""The conversation store at 100,000 and 1,000,000 runs: queries and write throughput.

Goals (issue 17), every figure measured in this run:
- each query at 1M runs <= 3x its time at 100k runs, and >= 20x faster than a full
  `GROUP BY` scan of the runs of the same store (what listing cost before the summaries);
- the viewer's list API stays fast and live while an application writes 1,000 runs/s;
- writes with the summaries kept >= 0.6x the runs/s of the runs-only insert (the previous
  path, replayed here as one `INSERT OR REPLACE` per run), and >= 30,000 runs/s.
Each store is filled through `SQLiteSink.export` in batches of 2,048 (10 runs per
conversation: one chain holding LLM calls and a tool call). Queries are medians of 7 rounds.
Run: `.venv/bin/python benchmarks/bench_store.py` (`--small`: 10k and 100k runs, quicker;
`--writes`: the write rates only).
"""

from __future__ import annotations

import argparse
import multiprocessing
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from convtrack import Run, RunKind, SQLiteSink
from convtrack.sinks._prices import prices_available
from convtrack.sinks._rows import COLUMNS as _COLUMNS
from convtrack.sinks._rows import row_of as _row
from convtrack.sinks._schema import RUNS

BATCH = 2048
RUNS_PER_CONVERSATION = 10
PER_USER = 100  # conversations per user: a "by user" page is full at every size
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
# The store as convtrack 0.1 made it (schema version 1): today's runs table, and its index by
# user besides the one by conversation.
RUNS_ONLY = RUNS + "CREATE INDEX IF NOT EXISTS runs_by_user ON runs (user_id, started_at);"
GROUP_BY_SCAN = (  # the list as the store answered it before it kept a row per conversation
    "SELECT conversation_id, MAX(user_id), MAX(agent_id), MIN(started_at), MAX(ended_at) AS last,"
    " COUNT(*), SUM(kind = 'llm') FROM runs WHERE conversation_id IS NOT NULL"
    " GROUP BY conversation_id ORDER BY last DESC, conversation_id LIMIT 50"
)


def conversation(n: int, users: int = 1000) -> list[Run]:
    """Conversation `n`: a chain with 8 LLM calls and a tool call, 10 runs in all."""
    cid = f"conv-{n:07d}"
    start = T0 + timedelta(seconds=n)
    chain_id = f"{cid}-chain"
    common = {
        "conversation_id": cid,
        "user_id": f"user-{n % users:05d}",
        "agent_id": "support-bot",
        "source": "openai",
        "grouping": "context",
        "root_run_id": chain_id,
        "metadata": {"customer_id": f"cust-{n}", "plan": "pro" if n % 2 else "free"},
    }
    runs = []
    for i in range(8):
        history = [{"role": "user", "content": f"question {i} about order {n}"}]
        runs.append(
            Run(
                run_id=f"{cid}-llm-{i}",
                parent_run_id=chain_id,
                kind=RunKind.LLM,
                name="chat.completions",
                started_at=start + timedelta(milliseconds=10 * i),
                ended_at=start + timedelta(milliseconds=10 * i + 8),
                model="gpt-4o-mini",
                inputs={"messages": history},
                outputs={"role": "assistant", "content": f"answer {i} for order {n}"},
                usage={"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160},
                **common,  # type: ignore[arg-type]
            )
        )
    runs.append(
        Run(
            run_id=f"{cid}-tool",
            parent_run_id=chain_id,
            kind=RunKind.TOOL,
            name="lookup_order",
            started_at=start + timedelta(milliseconds=85),
            ended_at=start + timedelta(milliseconds=90),
            inputs={"order": n},
            outputs={"status": "shipped"},
            status="error" if n % 50 == 0 else "ok",
            error="TimeoutError" if n % 50 == 0 else None,
            **common,  # type: ignore[arg-type]
        )
    )
    runs.append(
        Run(
            run_id=chain_id,
            parent_run_id=None,
            kind=RunKind.CHAIN,
            name="support_turn",
            started_at=start,
            ended_at=start + timedelta(milliseconds=95),
            **common,  # type: ignore[arg-type]
        )
    )
    return runs


def batches(conversations: int, first: int = 0) -> Iterator[list[Run]]:
    """Runs of `conversations` conversations in export batches, children before parents."""
    pending: list[Run] = []
    for n in range(first, first + conversations):
        pending.extend(conversation(n, max(1, conversations // PER_USER)))
        if len(pending) >= BATCH:
            yield pending[:BATCH]
            pending = pending[BATCH:]
    if pending:
        yield pending


def fill(path: Path, plain_path: Path, conversations: int) -> tuple[float, float]:
    """Fill a store through `SQLiteSink.export`, and another through the runs-only insert
    (the previous write path: `INSERT OR REPLACE` of the run rows into a version-1 store, as
    convtrack 0.1 opened it, one transaction a batch),
    batch by batch in turn so that the machine's load weighs on both alike; runs per second."""
    sink = SQLiteSink(path)
    conn = sqlite3.connect(plain_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")  # as convtrack 0.1 opened its store
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(RUNS_ONLY)
    insert = f"INSERT OR REPLACE INTO runs ({_COLUMNS}) VALUES ({', '.join('?' * 19)})"
    written, summarised, plain = 0, 0.0, 0.0
    for batch in batches(conversations):
        start = time.perf_counter()
        sink.export(batch)
        middle = time.perf_counter()
        rows = [_row(run) for run in batch]
        conn.execute("BEGIN")
        conn.executemany(insert, rows)
        conn.execute("COMMIT")
        plain += time.perf_counter() - middle
        summarised += middle - start
        written += len(batch)
    sink.close()
    conn.close()
    return written / summarised, written / plain


def median_ms(call: Callable[[], object], rounds: int = 7) -> float:
    """Median wall time of `call()` in milliseconds."""
    call()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def queries(path: Path, conversations: int) -> dict[str, float]:
    """Median milliseconds of each query on a filled store, and of the GROUP BY scan."""
    sink = SQLiteSink(path, create=False)
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
        "runs search, newest 50": lambda: sink.search_runs(50),
        "runs search, tools": lambda: sink.search_runs(50, kind="tool"),
    }
    assert len(sink.conversations(50, user_id="user-00007")) == 50
    assert len(sink.conversations(50, text=f"order {middle}")) == 1
    assert len(sink.conversations(50, metadata={"customer_id": f"cust-{middle}"})) == 1
    found = {name: median_ms(call) for name, call in cases.items()}
    conn = sqlite3.connect(path)
    found["GROUP BY scan"] = median_ms(lambda: conn.execute(GROUP_BY_SCAN).fetchall(), rounds=3)
    conn.close()
    sink.close()
    return found


def write_live(path: Path, first: int, stop: Any) -> None:
    """An application writing 1,000 runs/s: 10 new conversations every 0.1 s (own process)."""
    sink = SQLiteSink(path)
    n = first
    while not stop.is_set():
        start = time.perf_counter()
        sink.export([run for i in range(10) for run in conversation(n + i)])
        n += 10
        time.sleep(max(0.0, 0.1 - (time.perf_counter() - start)))
    sink.close()


def live_api(path: Path, conversations: int, seconds: float = 6.0) -> tuple[float, float, int]:
    """The viewer's `/api/conversations?limit=50` while another process writes 1,000 runs/s:
    median and 95th-percentile milliseconds, and how many answers showed a newer conversation
    than the one before (the list stayed live)."""
    import asyncio

    import httpx

    from convtrack.viewer import create_app

    stop = multiprocessing.Event()
    writer = multiprocessing.Process(target=write_live, args=(path, conversations, stop))
    writer.start()
    app = create_app(path)

    async def poll() -> tuple[list[float], int]:
        transport = httpx.ASGITransport(app=app)
        times, fresher, newest = [], 0, ""
        async with httpx.AsyncClient(transport=transport, base_url="http://viewer") as client:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                start = time.perf_counter()
                response = await client.get("/api/conversations", params={"limit": "50"})
                times.append((time.perf_counter() - start) * 1000)
                first = response.json()["conversations"][0]["conversation_id"]
                fresher += first > newest
                newest = max(newest, first)
                await asyncio.sleep(0.2)
        return times, fresher

    try:
        times, fresher = asyncio.run(poll())
    finally:
        stop.set()
        writer.join(30)
        app.state.store.close()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95)], fresher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="10k and 100k runs (quicker)")
    parser.add_argument("--writes", action="store_true", help="the write rates only")
    args = parser.parse_args()
    sizes = (1_000, 10_000) if args.small else (10_000, 100_000)  # conversations
    prices_available()  # import the price tables before any timing (half a second)
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for size in sizes:
            path = Path(tmp) / f"store-{size}.db"
            summarised, plain = fill(path, Path(tmp) / f"plain-{size}.db", size)
            results[size] = (summarised, plain, {} if args.writes else queries(path, size))
            print(
                f"{size * RUNS_PER_CONVERSATION:>9,} runs: write with summaries {summarised:,.0f}"
                f" runs/s, runs only {plain:,.0f} runs/s, ratio {summarised / plain:.2f}x"
                f" (goal >= 0.6x and >= 30,000 runs/s); file {path.stat().st_size / 2**20:,.0f} MiB"
            )
            if size == sizes[-1] and not args.writes:
                median, p95, fresher = live_api(path, size)
                print(
                    f"viewer /api/conversations?limit=50 while another process writes 1,000"
                    f" runs/s: median {median:.1f} ms, p95 {p95:.1f} ms; {fresher} answers showed"
                    " newer conversations"
                )
    if args.writes:
        return
    small, large = sizes
    small_q, large_q = results[small][2], results[large][2]
    scan = large_q["GROUP BY scan"]
    print(
        f"\n{'query':<26}{small * 10:>10,} runs{large * 10:>12,} runs"
        f"{'growth':>9} (goal <= 3x){'vs scan':>10} (goal >= 20x)"
    )
    for name in small_q:
        if name == "GROUP BY scan":
            continue
        growth = large_q[name] / small_q[name]
        speedup = scan / large_q[name]
        print(
            f"{name:<26}{small_q[name]:>11.3f} ms{large_q[name]:>12.3f} ms"
            f"{growth:>8.1f}x{'':>13}{speedup:>9,.0f}x"
        )
    print(
        f"{'GROUP BY scan':<26}{small_q['GROUP BY scan']:>11.1f} ms{scan:>12.1f} ms"
        f"{scan / small_q['GROUP BY scan']:>8.1f}x"
    )


if __name__ == "__main__":
    main()
