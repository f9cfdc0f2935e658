"""Feedback and conversation ends in the SQLite store: written as they arrive, read back.

A feedback record is one `feedback` row (idempotent on `feedback_id`); feedback on a run
alone takes the conversation of that run when the store holds it. A conversation's end
sets `ended_at` on its row (the latest end wins); a conversation with no runs yet gets a
row of its own, with no runs, which the runs arriving later merge into.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from .._events import ConversationEnd, Event, Feedback
from .._json import dumps, loads
from .._runs import ns_of
from ._rows import from_micros
from ._totals import COLUMNS as _SUMMARY_COLUMNS
from ._totals import Totals

COLUMNS = "feedback_id, conversation_id, run_id, key, score, value, comment, user_id, created_at"
_INSERT = f"INSERT OR IGNORE INTO feedback ({COLUMNS}) VALUES ({', '.join('?' * 9)})"
_NEW_ROW = f"INSERT INTO conversations ({_SUMMARY_COLUMNS}) VALUES ({', '.join('?' * 20)})"


def write_events(conn: sqlite3.Connection, events: Sequence[Event]) -> None:
    """Store `events` (inside the caller's write transaction), in order."""
    for event in events:
        if isinstance(event, Feedback):
            _write_feedback(conn, event)
        else:
            _write_end(conn, event)


def _write_feedback(conn: sqlite3.Connection, given: Feedback) -> None:
    conversation_id = given.conversation_id
    if conversation_id is None and given.run_id is not None:
        found = conn.execute(
            "SELECT conversation_id FROM runs WHERE run_id = ?", (given.run_id,)
        ).fetchone()
        conversation_id = None if found is None else found[0]
    conn.execute(
        _INSERT,
        (
            given.feedback_id,
            conversation_id,
            given.run_id,
            given.key,
            given.score,
            None if given.value is None else dumps(given.value),
            given.comment,
            given.user_id,
            ns_of(given.created_at) // 1000,
        ),
    )


def _write_end(conn: sqlite3.Connection, end: ConversationEnd) -> None:
    cid, when = end.conversation_id, ns_of(end.ended_at) // 1000
    found = conn.execute(
        "SELECT ended_at FROM conversations WHERE conversation_id = ?", (cid,)
    ).fetchone()
    if found is None:  # no runs yet: a row of its own, which later runs merge into
        conn.execute(_NEW_ROW, Totals(cid, when, when, ended_at=when).row())
    elif found[0] is None or found[0] < when:
        conn.execute("UPDATE conversations SET ended_at = ? WHERE conversation_id = ?", (when, cid))


def feedback_filter(conversation_id: Any, run_id: Any) -> list[tuple[str, str]]:
    """The (column, id) pairs a `feedback()` call asks for: a conversation's, a run's, or both.

    Raises:
        ValueError: neither given, or one that is not a string.
    """
    pairs = []
    for column, value in (("conversation_id", conversation_id), ("run_id", run_id)):
        if value is not None:
            if not isinstance(value, str):
                raise ValueError(f"{column}: expected a string, got {type(value).__name__}")
            pairs.append((column, value))
    if not pairs:
        raise ValueError("feedback(): give a conversation_id or a run_id")
    return pairs


def read_feedback(
    conn: sqlite3.Connection, conversation_id: str | None, run_id: str | None
) -> list[Feedback]:
    """The feedback on a conversation (its runs' too) or on one run, oldest first.

    Raises:
        ValueError: neither given, or one that is not a string.
    """
    pairs = feedback_filter(conversation_id, run_id)
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM feedback WHERE {' AND '.join(f'{c} = ?' for c, _ in pairs)}"
        " ORDER BY created_at, feedback_id",
        [value for _, value in pairs],
    ).fetchall()
    return [feedback_of(row) for row in rows]


def feedback_of(row: Sequence[Any]) -> Feedback:
    """The feedback record of a `feedback` row (columns in `COLUMNS` order)."""
    return Feedback(
        feedback_id=row[0],
        conversation_id=row[1],
        run_id=row[2],
        key=row[3],
        score=row[4],
        value=loads(row[5]),
        comment=row[6],
        user_id=row[7],
        created_at=from_micros(row[8]),
    )
