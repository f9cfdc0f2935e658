"""Feedback and conversation ends in the PostgreSQL store (the SQLite store's semantics).

A feedback record is one `feedback` row, inserted with `ON CONFLICT (feedback_id) DO
NOTHING` (exported twice: stored once); feedback on a run alone takes the conversation of
that run when the store holds it. A conversation's end is one upsert of its row that keeps
the latest end (`GREATEST`); a conversation with no runs yet gets a row of its own, with no
runs, which the runs written later merge into. Both are single statements, so writers in
many processes never lose or double anything.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from psycopg import sql

from convtrack import ConversationEnd, Feedback
from convtrack.sinks import feedback_filter, feedback_from_row

from ._values import Conn, text
from ._write import lock_conversations

Event = Feedback | ConversationEnd
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
COLUMNS = "feedback_id, conversation_id, run_id, key, score, value, comment, user_id, created_at"

_FEEDBACK = """
INSERT INTO {s}.feedback AS f (
    feedback_id, conversation_id, run_id, key, score, value, comment, user_id, created_at
)
SELECT u.fid, COALESCE(u.cid, (SELECT r.conversation_id FROM {s}.runs AS r
        WHERE r.run_id = u.rid)), u.rid, u.key, u.score, u.value, u.comment, u.uid, u.at
FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::float8[], %s::text[],
    %s::text[], %s::text[], %s::bigint[]) AS u (fid, cid, rid, key, score, value, comment,
    uid, at)
ON CONFLICT (feedback_id) DO NOTHING
"""
_END = """
INSERT INTO {s}.conversations AS c (
    conversation_id, first_at, last_at, run_count, llm_count, inferred, error_count,
    input_tokens, output_tokens, cost_nanos, priced_count, tools, metadata, ended_at, pairs
)
SELECT u.cid, u.at, u.at, 0, 0, false, 0, 0, 0, 0, 0, '[]', '{{}}', u.at, '[]'
FROM unnest(%s::text[], %s::bigint[]) AS u (cid, at)
ON CONFLICT (conversation_id) DO UPDATE SET ended_at = GREATEST(c.ended_at, EXCLUDED.ended_at)
"""


def micros(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // _MICROSECOND


def write_events(conn: Conn, schema: sql.Identifier, events: Sequence[Event]) -> None:
    """Store feedback and conversation ends (one transaction)."""
    given = list({e.feedback_id: e for e in events if isinstance(e, Feedback)}.values())
    ends: dict[str, int] = {}
    for event in events:
        if isinstance(event, ConversationEnd):
            cid, when = text(event.conversation_id), micros(event.ended_at)
            ends[cid] = max(when, ends.get(cid, when))
    with conn.transaction():
        lock_conversations(conn, sorted(ends))  # as the writers of runs and prune do
        if given:
            columns = [
                [text(f.feedback_id) for f in given],
                [text(f.conversation_id) for f in given],
                [text(f.run_id) for f in given],
                [text(f.key) for f in given],
                [f.score for f in given],
                [None if f.value is None else _json(f.value) for f in given],
                [text(f.comment) for f in given],
                [text(f.user_id) for f in given],
                [micros(f.created_at) for f in given],
            ]
            conn.execute(sql.SQL(_FEEDBACK).format(s=schema), columns)
        if ends:
            ids = sorted(ends)
            conn.execute(sql.SQL(_END).format(s=schema), [ids, [ends[cid] for cid in ids]])


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def read_feedback(
    conn: Conn, schema: sql.Identifier, conversation_id: Any, run_id: Any
) -> list[Feedback]:
    """The feedback on a conversation (its runs' too) or on one run, oldest first.

    Raises:
        ValueError: neither given, or one that is not a string.
    """
    pairs = feedback_filter(conversation_id, run_id)
    where = sql.SQL(" AND ").join(
        sql.SQL("{} = %s").format(sql.Identifier(column)) for column, _ in pairs
    )
    statement = sql.SQL(
        "SELECT {} FROM {}.feedback WHERE {} ORDER BY created_at, feedback_id"
    ).format(sql.SQL(COLUMNS), schema, where)
    params = [text(value) for _, value in pairs]
    return [feedback_from_row(row) for row in conn.execute(statement, params)]
