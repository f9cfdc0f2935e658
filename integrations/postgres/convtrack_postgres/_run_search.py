"""Runs search in the PostgreSQL store: the filters, order and cursors of the SQLite store's.

Every value a caller gives travels as a query parameter; the checks, messages and page
cursors are the core's (`convtrack.sinks`), so both stores answer and refuse alike.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from convtrack import Run
from convtrack.sinks import SearchDialect, check_limit, id_filter, run_filters, run_from_row

from ._values import Conn
from ._values import text as _clean
from ._write import RUN_COLUMNS

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

_POSTGRES = SearchDialect("%s", _METADATA, _TEXT)


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
    found = run_filters(oldest_first=oldest_first, dialect=_POSTGRES, **filters)
    statement = sql.SQL("SELECT {} FROM {}.runs AS r").format(sql.SQL(RUN_COLUMNS), schema)
    if found.where:  # the core's fixed SQL text; every value is a parameter
        statement += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(map(sql.SQL, found.where))
    order = "" if oldest_first else " DESC"
    statement += sql.SQL(f" ORDER BY r.started_at{order}, r.run_id")
    params = [_clean(value) for value in found.params]
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
