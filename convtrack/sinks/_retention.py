"""Deleting whole conversations: their runs and every row kept for them."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

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
