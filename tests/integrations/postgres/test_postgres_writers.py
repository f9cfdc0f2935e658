"""Many writer processes on the same conversations: every count exact, none lost or doubled."""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path
from typing import Any

from convtrack_postgres import PostgresSink
from pg_support import fresh_schema

from convtrack import Run, RunKind

sys.path.insert(0, str(Path(__file__).parents[2] / "core" / "store"))
from store_support import NEVER_IDLE, chat, run

from convtrack.sinks._summary import summaries

WRITERS = 4


def _write(url: str, schema: str, batches: list[list[Run]], step: Any) -> None:
    sink = PostgresSink(url, schema=schema)
    for batch in batches:
        step.wait(60)  # the writers export their n-th batches at the same moment
        sink.export(batch)
    sink.close()


def corpus() -> list[Run]:
    """Runs of 7 conversations; most LLM runs are nested in another (the same call)."""
    runs = []
    for n in range(400):
        cid = f"c{(n // 4) % 7}"
        if n % 4 == 0:
            runs.append(
                chat(f"r{n}", cid, f"q{n}", f"a{n}", at=n, usage={"input_tokens": n},
                     model="gpt-4o-mini", source="openai", metadata={"turn": n % 3})
            )  # fmt: skip
        elif n % 4 == 1:
            runs.append(run(f"r{n}", cid, at=n, kind=RunKind.TOOL, name=f"tool{n % 3}"))
        else:
            runs.append(
                run(f"r{n}", cid, at=n + 0.5, kind=RunKind.LLM, parent=f"r{n - n % 4}",
                    usage={"input_tokens": 1, "output_tokens": 1}, status="error" if n % 9 == 0
                    else "ok")
            )  # fmt: skip
    return runs


def test_four_processes_writing_the_same_conversations(postgres_url: str) -> None:
    """4 processes export interleaved runs (parents and children apart, some twice) at once:
    the summaries equal a recomputation and each run is stored once."""
    runs = corpus()
    schema = fresh_schema()
    PostgresSink(postgres_url, schema=schema).close()
    shares = [runs[start::WRITERS] for start in range(WRITERS)]
    shares[0] = shares[0] + runs[1::WRITERS][:40]  # sent twice, by two processes
    context = multiprocessing.get_context("spawn")
    step = context.Barrier(WRITERS)
    rounds = max(len(share) for share in shares)
    writers = [
        context.Process(
            target=_write,
            args=(postgres_url, schema, [share[i : i + 1] for i in range(rounds)], step),
        )
        for share in shares
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(90)
    assert [w.exitcode for w in writers] == [0] * WRITERS
    sink = PostgresSink(postgres_url, schema=schema, idle_timeout=NEVER_IDLE)
    assert sink.count() == len(runs)
    assert sink.conversations(None) == summaries(runs)
    sink.close()
