"""Runs search in the PostgreSQL store: the filters, order and cursors of the SQLite store's.

Every value a caller gives travels as a query parameter; the checks, messages and page
cursors are the core's (`convtrack.sinks`), so both stores answer and refuse alike.
"""

from __future__ import annotations

import json
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from convtrack import Run, RunKind
from convtrack.sinks import (
    check_status,
    decode_run_cursor,
    id_filter,
    metadata_pairs,
    run_from_row,
    text_filter,
    time_filter,
)

from ._read import Query, check_limit
from ._values import Conn
from ._values import text as _clean
from ._write import RUN_COLUMNS

RUN_KINDS = tuple(kind.value for kind in RunKind)
# A run's metadata value as the metadata index writes it (`metadata_pairs`): a string as it
# is, a number, boolean or null as its JSON text. `json` (not `jsonb`) keeps the text as it
# was written; a `\u0000` escape, which PostgreSQL cannot turn into text, is read as U+FFFD.
_METADATA = (
    "EXISTS (SELECT 1 FROM json_each(replace(r.metadata, '\\u0000', '\\ufffd')::json) AS m"
    " WHERE m.key = %s AND (CASE json_typeof(m.value) WHEN 'string' THEN m.value #>> '{}'"
    " WHEN 'object' THEN NULL WHEN 'array' THEN NULL ELSE m.value::text END) = %s)"
)
_TEXT = (
    "(strpos(lower(r.inputs), lower(%s)) > 0 OR strpos(lower(r.outputs), lower(%s)) > 0"
    " OR strpos(lower(r.error), lower(%s)) > 0 OR strpos(lower(r.name), lower(%s)) > 0)"
)


def run_filters(
    *,
    conversation_id: Any = None,
    kind: Any = None,
    status: Any = None,
    model: Any = None,
    metadata: Any = None,
    text: Any = None,
    since: Any = None,
    until: Any = None,
    before: Any = None,
    oldest_first: bool = False,
) -> Query:
    """The checked filters of `search_runs` as SQL over `runs AS r`.

    Raises:
        ValueError: a filter of the wrong type, an unknown kind or status, a bad cursor.
    """
    found = Query()
    for column, value in (("conversation_id", conversation_id), ("model", model)):
        if id_filter(column, value) is not None:
            found.add(f"r.{column} = %s", value)
    if kind is not None:
        if kind not in RUN_KINDS:
            raise ValueError(f"kind: {kind!r:.80} is not one of {', '.join(RUN_KINDS)}")
        found.add("r.kind = %s", kind)
    if status is not None:
        check_status(status)
        found.add("r.status = %s", status)
    if since is not None:
        found.add("r.started_at >= %s", time_filter("since", since))
    if until is not None:
        found.add("r.started_at < %s", time_filter("until", until))
    if metadata is not None:
        for key, value in metadata_pairs(metadata):
            found.add(_METADATA, key, value)
    needle = text_filter(text)
    if needle is not None and needle.strip():
        as_json = json.dumps(needle, ensure_ascii=False)[1:-1]  # inputs, outputs: JSON text
        found.add(_TEXT, as_json, as_json, needle, needle)
    if before is not None:
        start_us, run_id = decode_run_cursor(before, oldest_first)
        later = ">" if oldest_first else "<"
        found.add(
            f"(r.started_at {later} %s OR (r.started_at = %s AND r.run_id > %s))",
            start_us,
            start_us,
            run_id,
        )
    return found


def search_runs(
    conn: Conn,
    schema: sql.Identifier,
    limit: int | None,
    *,
    oldest_first: bool = False,
    **filters: Any,
) -> list[Run]:
    """Runs matching `filters` (see `run_filters`), newest first (or oldest first).

    Raises:
        ValueError: a limit below 1, or a filter that cannot be used.
    """
    check_limit(limit)
    found = run_filters(oldest_first=oldest_first, **filters)
    statement = sql.SQL("SELECT {} FROM {}.runs AS r").format(sql.SQL(RUN_COLUMNS), schema)
    if found.where:
        statement += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(found.where)
    order = "" if oldest_first else " DESC"
    statement += sql.SQL(f" ORDER BY r.started_at{order}, r.run_id")
    params = list(found.params)
    if limit is not None:
        statement += sql.SQL(" LIMIT %s")
        params.append(limit)
    with conn.cursor(row_factory=dict_row) as cur:
        return [run_from_row(row) for row in cur.execute(statement, params)]


def checked_run_id(run_id: Any) -> str:
    """A run id to look up, as the store holds it.

    Raises:
        ValueError: an id that is not a string or is too long.
    """
    if id_filter("run_id", run_id) is None:
        raise ValueError("run_id: expected a string, got None")
    found: str = _clean(run_id)
    return found
