"""Deleting whole conversations: their runs and every row kept for them."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from ._upkeep import chunks


def delete_conversations(conn: sqlite3.Connection, ids: Sequence[str], search: bool) -> None:
    """Delete these conversations and everything kept for them."""
    for part in chunks(ids):
        marks = ", ".join("?" * len(part))
        if search:
            conn.execute(
                "DELETE FROM search_text WHERE rowid IN (SELECT document_id"
                f" FROM search_documents WHERE conversation_id IN ({marks}))",
                part,
            )
        for table in (
            "runs",
            "conversation_metadata",
            "feedback",
            "search_documents",
            "conversations",
        ):
            conn.execute(f"DELETE FROM {table} WHERE conversation_id IN ({marks})", part)


Connect = Callable[[], AbstractContextManager[sqlite3.Connection]]


def prune(
    connection: Connect,
    transaction: Connect,
    cutoff: int,
    batch_size: int,
    progress: Callable[[int, int], None] | None,
    search: bool,
) -> int:
    """Delete the conversations last active before `cutoff` (microseconds) in batches, each
    its own transaction, then the runs of no conversation started before it, and what waited
    for a parent of the deleted runs (see `SQLiteSink.prune`); how many conversations were
    deleted."""
    with connection() as conn:
        total = conn.execute(
            "SELECT COUNT(*) FROM conversations WHERE last_at < ?", (cutoff,)
        ).fetchone()[0]
    done = 0
    while True:
        with transaction() as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT conversation_id FROM conversations WHERE last_at < ?"
                    " ORDER BY last_at LIMIT ?",
                    (cutoff, batch_size),
                )
            ]
            delete_conversations(conn, ids, search)
        done += len(ids)
        if progress is not None:
            progress(done, total)
        if len(ids) < batch_size:
            break
    with transaction() as conn:  # runs of no conversation: no summary to keep
        conn.execute("DELETE FROM runs WHERE conversation_id IS NULL AND started_at < ?", (cutoff,))
        conn.execute(  # (a run deleted while it waited is skipped when its parent comes)
            "DELETE FROM llm_runs_awaiting_parent WHERE run_id NOT IN (SELECT run_id FROM runs)"
        )
    return done
