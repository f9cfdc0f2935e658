"""Deleting old conversations, whole, while writers may be adding to them."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import psycopg
from psycopg import sql

from ._write import lock_conversations

Reading = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


def prune(
    reading: Reading,
    schema: sql.Identifier,
    cutoff: int,
    batch_size: int,
    progress: Callable[[int, int], None] | None,
) -> int:
    """Delete the conversations last active before `cutoff` (microseconds) in batches, each
    its own transaction under the writers' conversation locks; then the runs of no
    conversation that started before it. Returns how many conversations were deleted."""
    s = schema
    with reading() as conn:
        total = conn.execute(
            sql.SQL("SELECT count(*) FROM {}.conversations WHERE last_at < %s").format(s),
            (cutoff,),
        ).fetchone()[0]  # type: ignore[index]
    done = 0
    while True:
        with reading() as conn, conn.transaction():
            picked = [
                r[0]
                for r in conn.execute(
                    sql.SQL(
                        "SELECT conversation_id FROM {}.conversations WHERE last_at < %s"
                        " ORDER BY last_at LIMIT %s"
                    ).format(s),
                    (cutoff, batch_size),
                )
            ]
            lock_conversations(conn, picked)  # a writer adding runs to one: it goes first
            ids = [
                r[0]
                for r in conn.execute(
                    sql.SQL(
                        "DELETE FROM {}.conversations WHERE conversation_id = ANY(%s)"
                        " AND last_at < %s RETURNING conversation_id"
                    ).format(s),
                    (picked, cutoff),
                )
            ]
            for table in ("runs", "search_documents", "feedback"):
                conn.execute(
                    sql.SQL("DELETE FROM {}.{} WHERE conversation_id = ANY(%s)").format(
                        s, sql.Identifier(table)
                    ),
                    (ids,),
                )
        done += len(ids)
        if progress is not None:
            progress(done, total)
        if len(picked) < batch_size:
            break
    with reading() as conn:
        conn.execute(
            sql.SQL("DELETE FROM {}.runs WHERE conversation_id IS NULL AND started_at < %s").format(
                s
            ),
            (cutoff,),
        )
    return done
