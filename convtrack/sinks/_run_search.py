"""Runs search: runs by conversation, kind, status, model, metadata, text and time.

Every value a caller gives travels as an SQL parameter. A filter that cannot be used raises
`ValueError` saying which and why. Pages are keyset pages: `next_run_cursor(page)` names
where the next one starts (a cursor of another order or of `conversations()` is refused).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._json import dumps
from .._runs import Run, RunKind, times_ns
from ._query import (
    Filters,
    check_limit,
    check_status,
    id_filter,
    metadata_pairs,
    micros,
    text_filter,
)
from ._rows import COLUMNS, run_of
from ._signed import sign, unsign

RUN_KINDS = tuple(kind.value for kind in RunKind)
_KEY = b"convtrack runs cursor v1"  # a checksum against edited cursors, not a secret
_NEWEST, _OLDEST = "runs-newest", "runs-oldest"
# A run's metadata value as the metadata index writes it (`_summary.metadata_text`).
_METADATA = (
    "EXISTS (SELECT 1 FROM json_each(r.metadata) AS m WHERE m.key = ? AND"
    " (CASE m.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' WHEN 'null' THEN 'null'"
    " WHEN 'text' THEN m.atom WHEN 'integer' THEN CAST(m.atom AS TEXT)"
    " WHEN 'real' THEN CAST(m.atom AS TEXT) END) = ?)"
)
_TEXT = (
    "(instr(lower(r.inputs), lower(?)) > 0 OR instr(lower(r.outputs), lower(?)) > 0"
    " OR instr(lower(r.error), lower(?)) > 0 OR instr(lower(r.name), lower(?)) > 0)"
)


def encode_run_cursor(run: Run, oldest_first: bool = False) -> str:
    """The `before=` cursor that continues after `run` in this order."""
    return sign(_KEY, [_OLDEST if oldest_first else _NEWEST, times_ns(run)[0] // 1000, run.run_id])


def decode_run_cursor(cursor: Any, oldest_first: bool = False) -> tuple[int, str]:
    """The (start in microseconds, run id) a cursor from `encode_run_cursor` names.

    Raises:
        ValueError: not a runs cursor of this order (edited, cut, or from another query).
    """
    bad = ValueError("before: not a cursor from a previous page of runs (edited or cut?)")
    try:
        order, start_us, run_id = unsign(_KEY, cursor)
    except (ValueError, TypeError):
        raise bad from None
    if order != (_OLDEST if oldest_first else _NEWEST):
        raise bad
    if not isinstance(start_us, int) or not isinstance(run_id, str):
        raise bad
    return start_us, run_id


def next_run_cursor(page: Sequence[Run], oldest_first: bool = False) -> str | None:
    """The `before=` cursor for the page of runs after `page` (None when `page` is empty)."""
    return encode_run_cursor(page[-1], oldest_first) if page else None


@dataclass(frozen=True)
class SearchDialect:
    """How a store writes the runs search: its parameter mark, its condition that a run's
    metadata holds a key and value (two parameters), and its condition that a text is in a
    run's inputs or outputs (as JSON text: two parameters), error or name (two more)."""

    mark: str
    metadata: str
    text: str


SQLITE = SearchDialect("?", _METADATA, _TEXT)


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
    dialect: SearchDialect = SQLITE,
) -> Filters:
    """The checked filters of `search_runs` as SQL over `runs AS r`, in `dialect`.

    Raises:
        ValueError: a filter of the wrong type, an unknown kind or status, a bad cursor.
    """
    found = Filters()
    where, params, mark = found.where, found.params, dialect.mark
    for column, value in (("conversation_id", conversation_id), ("model", model)):
        if id_filter(column, value) is not None:
            where.append(f"r.{column} = {mark}")
            params.append(value)
    if kind is not None:
        if kind not in RUN_KINDS:
            raise ValueError(f"kind: {kind!r:.80} is not one of {', '.join(RUN_KINDS)}")
        where.append(f"r.kind = {mark}")
        params.append(kind)
    if status is not None:
        check_status(status)
        where.append(f"r.status = {mark}")
        params.append(status)
    if since is not None:
        where.append(f"r.started_at >= {mark}")
        params.append(micros("since", since))
    if until is not None:
        where.append(f"r.started_at < {mark}")
        params.append(micros("until", until))
    if metadata is not None:
        for key, value in metadata_pairs(metadata):
            where.append(dialect.metadata)
            params.extend((key, value))
    needle = text_filter(text)
    if needle is not None and needle.strip():
        as_json = dumps(needle)[1:-1]  # inputs and outputs are stored as JSON text
        where.append(dialect.text)
        params.extend((as_json, as_json, needle, needle))
    if before is not None:
        start_us, run_id = decode_run_cursor(before, oldest_first)
        later = ">" if oldest_first else "<"
        where.append(  # (the range first: an index on started_at starts at the cursor)
            f"r.started_at {later}= {mark} AND (r.started_at {later} {mark} OR r.run_id > {mark})"
        )
        params.extend((start_us, start_us, run_id))
    return found


def search_runs(
    conn: sqlite3.Connection, limit: int | None, *, oldest_first: bool = False, **filters: Any
) -> list[Run]:
    """Runs matching `filters` (see `run_filters`), newest first (or oldest first).

    Raises:
        ValueError: a limit below 1, or a filter that cannot be used.
    """
    sql, params = runs_query(limit, oldest_first=oldest_first, **filters)
    return [run_of(row) for row in conn.execute(sql, params).fetchall()]


def runs_query(
    limit: int | None, *, oldest_first: bool = False, **filters: Any
) -> tuple[str, list[Any]]:
    """The SQL and parameters `search_runs` asks SQLite.

    Raises:
        ValueError: a limit below 1, or a filter that cannot be used.
    """
    check_limit(limit)
    found = run_filters(oldest_first=oldest_first, **filters)
    sql = f"SELECT {COLUMNS} FROM runs AS r"
    if found.where:
        sql += " WHERE " + " AND ".join(found.where)
    sql += " ORDER BY r.started_at" + ("" if oldest_first else " DESC") + ", r.run_id"
    params = list(found.params)
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return sql, params


def find_run(conn: sqlite3.Connection, run_id: Any) -> Run | None:
    """The run with this id, or None.

    Raises:
        ValueError: an id that is not a string or is too long.
    """
    if id_filter("run_id", run_id) is None:
        raise ValueError("run_id: expected a string, got None")
    row = conn.execute(f"SELECT {COLUMNS} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    return None if row is None else run_of(row)
