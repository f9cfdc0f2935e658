"""`conversations()` filters as one parameterised PostgreSQL query (the SQLite store's rules).

Every value a caller gives travels as a query parameter, never as SQL text; the checks and
their messages are the core's (`convtrack.sinks`), so both stores refuse the same filters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from convtrack.sinks import (
    check_ended,
    check_status,
    decode_cursor,
    feedback_key,
    id_filter,
    metadata_pairs,
    text_filter,
    time_filter,
)

from ._values import text as _clean


@dataclass
class Query:
    """Conditions over `conversations AS c` and their parameters."""

    where: list[sql.Composable] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, condition: str, *values: Any) -> None:
        """One more condition (fixed SQL text) and its values."""
        self.where.append(sql.SQL(condition))
        self.params.extend(_clean(v) for v in values)


def filters(
    schema: sql.Identifier,
    *,
    user_id: Any = None,
    agent_id: Any = None,
    since: Any = None,
    until: Any = None,
    query: Any = None,
    metadata: Any = None,
    text: Any = None,
    status: Any = None,
    before: Any = None,
    feedback: Any = None,
    ended: Any = None,
    idle_before: int = 0,
) -> Query:
    """The checked filters (see `PostgresSink.conversations`); `ended` counts a
    conversation last active before `idle_before` (microseconds) as ended.

    Raises:
        ValueError: a filter of the wrong type, an unknown status, a bad cursor.
    """
    found = Query()
    if id_filter("user_id", user_id) is not None:
        found.add("c.user_id = %s", user_id)
    if id_filter("agent_id", agent_id) is not None:
        found.add("c.agent_id = %s", agent_id)
    if since is not None:
        found.add("c.last_at >= %s", time_filter("since", since))
    if until is not None:
        found.add("c.last_at < %s", time_filter("until", until))
    if id_filter("query", query):
        found.add("strpos(c.conversation_id, %s) > 0", query)
    if status is not None:
        check_status(status)
        found.add("c.error_count > 0" if status == "error" else "c.error_count = 0")
    check_ended(ended)
    if ended is not None:
        if ended:
            found.add("(c.ended_at IS NOT NULL OR c.last_at < %s)", idle_before)
        else:
            found.add("c.ended_at IS NULL AND c.last_at >= %s", idle_before)
    if feedback is not None:
        wanted = feedback_key(feedback)
        found.where.append(
            sql.SQL(
                "c.conversation_id IN (SELECT f.conversation_id FROM {}.feedback AS f"
                " WHERE f.key = %s)"
            ).format(schema)
        )
        found.params.append(_clean(wanted))
    if before is not None:
        last_at, conversation_id = decode_cursor(before)
        found.add(
            "c.last_at <= %s AND (c.last_at < %s OR c.conversation_id > %s)",
            last_at,
            last_at,
            conversation_id,
        )
    if metadata is not None:
        pairs = [[_clean(k), _clean(v)] for k, v in metadata_pairs(metadata)]
        if pairs:
            found.add("c.pairs @> %s::jsonb", json.dumps(pairs, ensure_ascii=False))
    needle = text_filter(text)
    if needle is not None and needle.strip():
        found.where.append(
            sql.SQL(
                "c.conversation_id IN (SELECT d.conversation_id FROM {}.search_documents AS d"
                " WHERE d.body @@ phraseto_tsquery('simple', %s))"
            ).format(schema)
        )
        found.params.append(_clean(needle))
    return found
