"""prune() while an app keeps writing to the conversations it is deleting: no orphan, every
kept conversation's row equal to a recomputation from its runs."""

from __future__ import annotations

import sys
import threading
from datetime import timedelta
from pathlib import Path

from convtrack_postgres import PostgresSink

sys.path.insert(0, str(Path(__file__).parents[2] / "core" / "store"))
from store_support import T0, chat

from convtrack.sinks._summary import summarise


def test_prune_while_writing(postgres_url: str, pg_store: PostgresSink) -> None:
    """A writer adds turns to old conversations while prune deletes them in small batches:
    afterwards each stored run has its conversation, and each row matches its runs."""
    pg_store.export([chat(f"old-{n}", f"c{n:03d}", "q", "a", at=n) for n in range(150)])
    writer = PostgresSink(postgres_url, schema=pg_store.schema)

    def write() -> None:
        for n in range(150):
            writer.export([chat(f"new-{n}", f"c{(n * 7) % 150:03d}", "q2", "a2", at=5000 + n)])

    thread = threading.Thread(target=write)
    thread.start()
    pg_store.prune(T0 + timedelta(seconds=1000), batch_size=5)
    thread.join(60)
    writer.close()
    runs = pg_store.runs()
    by_conversation: dict[str, list] = {}  # type: ignore[type-arg]
    for run in runs:
        by_conversation.setdefault(run.conversation_id or "", []).append(run)
    summaries = {s.conversation_id: s for s in pg_store.conversations(None)}
    assert set(by_conversation) == set(summaries)
    for cid, group in by_conversation.items():
        assert summaries[cid] == summarise(cid, group)
    assert {r.run_id for r in runs} >= {f"new-{n}" for n in range(150)}
