"""Writing a batch of runs: staged by COPY, inserted once each, their conversations upserted.

One transaction per batch. It first takes an advisory lock per conversation of the batch
(sorted: no deadlock), so two processes writing runs of one conversation take turns and
each sees what the other committed (an LLM run and its parent LLM run, written by two
processes, still count as one call). The runs are copied (`COPY`) into a temporary staging
table and inserted with `ON CONFLICT (run_id) DO NOTHING`: a run already stored is not
counted again. What the new runs add to each conversation (counts, tokens, cost, previews,
tools, metadata) is copied into a second staging table, one row per conversation, and added
to the stored rows by one `INSERT ... SELECT ... ON CONFLICT DO UPDATE` whose SET adds and
merges, never a value read into Python and written back; their search text goes in by a
third.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from convtrack import Run, RunKind
from convtrack.sinks import (
    ConversationTotals,
    RunFacts,
    facts_of,
    run_row,
)

from ._nested import Child, parents_of, stored_children, take_back_nested
from ._schema import lock_key
from ._values import Conn, json_text, text

RUN_COLUMNS = (  # the order of convtrack.sinks.run_row
    "run_id, parent_run_id, root_run_id, conversation_id, user_id, agent_id, kind, name,"
    " source, grouping, started_at, ended_at, status, error, model, inputs, outputs, usage,"
    " metadata"
)
_DOCUMENT_CHARS = 100_000  # of one full-text document (a tsvector holds at most 1 MB)
_STAGING = sql.Identifier("convtrack_staging")  # temporary tables: this session's rows
_STAGED_CONVERSATIONS = sql.Identifier("convtrack_staged_conversations")
_STAGED_TEXT = sql.Identifier("convtrack_staged_text")
_CONVERSATION_COLUMNS = (
    "conversation_id, user_id, agent_id, first_at, last_at, run_count, llm_count, inferred,"
    " error_count, input_tokens, output_tokens, cost_nanos, priced_count, first_input,"
    " first_input_key, last_output, last_output_key, tools, metadata, ended_at, pairs"
)

_UPSERT = """
INSERT INTO {s}.conversations AS c (
    conversation_id, user_id, agent_id, first_at, last_at, run_count, llm_count, inferred,
    error_count, input_tokens, output_tokens, cost_nanos, priced_count, first_input,
    first_input_key, last_output, last_output_key, tools, metadata, ended_at, pairs
)
SELECT {columns} FROM {staged} ORDER BY conversation_id
ON CONFLICT (conversation_id) DO UPDATE SET
    user_id = GREATEST(c.user_id, EXCLUDED.user_id),
    agent_id = GREATEST(c.agent_id, EXCLUDED.agent_id),
    first_at = CASE WHEN c.run_count = 0 THEN EXCLUDED.first_at
        ELSE LEAST(c.first_at, EXCLUDED.first_at) END,
    last_at = CASE WHEN c.run_count = 0 THEN EXCLUDED.last_at
        ELSE GREATEST(c.last_at, EXCLUDED.last_at) END,
    run_count = c.run_count + EXCLUDED.run_count,
    llm_count = c.llm_count + EXCLUDED.llm_count,
    inferred = c.inferred OR EXCLUDED.inferred,
    error_count = c.error_count + EXCLUDED.error_count,
    input_tokens = c.input_tokens + EXCLUDED.input_tokens,
    output_tokens = c.output_tokens + EXCLUDED.output_tokens,
    cost_nanos = c.cost_nanos + EXCLUDED.cost_nanos,
    priced_count = c.priced_count + EXCLUDED.priced_count,
    first_input = CASE WHEN EXCLUDED.first_input_key < c.first_input_key
        OR c.first_input_key IS NULL THEN COALESCE(EXCLUDED.first_input, c.first_input)
        ELSE c.first_input END,
    first_input_key = LEAST(c.first_input_key, EXCLUDED.first_input_key),
    last_output = CASE WHEN EXCLUDED.last_output_key > c.last_output_key
        OR c.last_output_key IS NULL THEN COALESCE(EXCLUDED.last_output, c.last_output)
        ELSE c.last_output END,
    last_output_key = GREATEST(c.last_output_key, EXCLUDED.last_output_key),
    tools = CASE WHEN EXCLUDED.tools = '[]' THEN c.tools ELSE (
        SELECT jsonb_agg(DISTINCT t) FROM jsonb_array_elements(c.tools || EXCLUDED.tools) AS t
    ) END,
    metadata = CASE WHEN EXCLUDED.metadata = '{{}}' THEN c.metadata ELSE (
        SELECT jsonb_object_agg(m.key, m.value) FROM (
            SELECT DISTINCT ON (e.key) e.key, e.value FROM (
                SELECT * FROM jsonb_each(c.metadata)
                UNION ALL SELECT * FROM jsonb_each(EXCLUDED.metadata)
            ) AS e ORDER BY e.key, (e.value ->> 0) COLLATE "C" DESC
        ) AS m
    ) END,
    ended_at = GREATEST(c.ended_at, EXCLUDED.ended_at),
    pairs = CASE WHEN EXCLUDED.pairs = '[]' THEN c.pairs ELSE (
        SELECT jsonb_agg(DISTINCT p) FROM jsonb_array_elements(c.pairs || EXCLUDED.pairs) AS p
    ) END
"""


def write(conn: Conn, schema: sql.Identifier, runs: Sequence[Run]) -> int:
    """Store the runs not stored yet and add them to their conversations (one transaction).

    Strings go as they are; only a batch that holds a NUL character somewhere (refused
    before anything is sent) is written again with NUL characters replaced.

    Returns:
        How many runs were new.
    """
    unique: dict[str, Run] = {}
    for run in runs:
        unique.setdefault(run.run_id, run)
    try:
        return _write(conn, schema, unique, {rid: run_row(r) for rid, r in unique.items()})
    except psycopg.DataError as exc:
        if "NUL" not in str(exc):
            raise
    rows = {rid: tuple(text(v) for v in run_row(r)) for rid, r in unique.items()}
    return _write(conn, schema, unique, rows)


def lock_conversations(conn: Conn, ids: Sequence[str]) -> None:
    """Take the transaction's advisory lock of each conversation, in one order for everyone
    (writers and prune alike: no deadlock)."""
    keys = sorted({lock_key(text(cid)) for cid in ids})
    if keys:
        conn.execute(
            "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k", (keys,)
        )


def _write(
    conn: Conn, schema: sql.Identifier, unique: dict[str, Run], rows: dict[str, tuple[Any, ...]]
) -> int:
    with conn.transaction():
        ids = {r.conversation_id for r in unique.values() if r.conversation_id is not None}
        lock_conversations(conn, list(ids))
        conn.execute(_CREATE_STAGING.format(s=schema))
        columns = sql.SQL(RUN_COLUMNS)
        _stage(conn, _STAGING, RUN_COLUMNS, rows.values())
        children = stored_children(conn, schema, unique.values())
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "INSERT INTO {s}.runs ({c}) SELECT {c} FROM {t} ORDER BY run_id"
                    " ON CONFLICT (run_id) DO NOTHING RETURNING run_id"
                ).format(s=schema, c=columns, t=_STAGING)
            )
            inserted = {r[0] for r in cur.fetchall()}
        new = [(run, rows[run_id]) for run_id, run in unique.items() if rows[run_id][0] in inserted]
        _update(conn, schema, new, children)
    return len(new)


_CREATE_STAGING = sql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS convtrack_staging (LIKE {s}.runs) ON COMMIT DELETE ROWS;"
    " CREATE TEMP TABLE IF NOT EXISTS convtrack_staged_conversations (LIKE {s}.conversations)"
    " ON COMMIT DELETE ROWS; CREATE TEMP TABLE IF NOT EXISTS convtrack_staged_text"
    ' (conversation_id text COLLATE "C", body text) ON COMMIT DELETE ROWS'
)


def _stage(conn: Conn, table: sql.Identifier, columns: str, rows: Iterable[Sequence[Any]]) -> None:
    """Copy rows into one of the transaction's staging tables (`COPY`: no SQL per row)."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(table, sql.SQL(columns))
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def _update(
    conn: Conn,
    schema: sql.Identifier,
    new: list[tuple[Run, tuple[Any, ...]]],
    children: list[Child],
) -> None:
    """Add the new runs to their conversations' rows, metadata pairs and search text."""
    mine = [(run, row) for run, row in new if run.conversation_id is not None]
    if not mine:
        return
    runs = [run for run, _ in mine]
    facts = {run.run_id: facts_of(run) for run in runs}
    parents = parents_of(conn, schema, runs)
    totals: dict[str, ConversationTotals] = {}
    pairs: dict[str, set[tuple[str, str]]] = {}
    for run, row in mine:
        cid = row[3]
        times = (row[10], row[11])
        delta = totals.get(cid)
        if delta is None:
            delta = totals[cid] = ConversationTotals(cid, times[0], times[1])
        parent = None  # the stored LLM run this LLM run is nested in (the same call)
        if run.kind is RunKind.LLM and run.parent_run_id is not None:
            parent = parents.get(text(run.parent_run_id))
        nested = parent is not None and parent[0] == cid
        said = facts[run.run_id]
        delta.add(run, times, said, nested, nested and parent is not None and parent[1])
        if said.pairs:  # NUL characters in them: made U+FFFD with the JSON below
            pairs.setdefault(cid, set()).update(said.pairs)
    take_back_nested(children, runs, facts, totals)
    staged = []  # one row per conversation, copied, then added by one upsert
    for cid, delta in totals.items():
        row = delta.row()
        staged.append(
            (
                *(text(v) for v in row[:7]),
                bool(row[7]),
                *(text(v) for v in row[8:17]),
                json_text(row[17]),
                json_text(row[18]),
                row[19],
                json_text(json.dumps(sorted(pairs.get(cid, ())), ensure_ascii=False)),
            )
        )
    _stage(conn, _STAGED_CONVERSATIONS, _CONVERSATION_COLUMNS, staged)
    columns = sql.SQL(_CONVERSATION_COLUMNS)
    conn.execute(sql.SQL(_UPSERT).format(s=schema, columns=columns, staged=_STAGED_CONVERSATIONS))
    _index_text(conn, schema, runs, facts)


def _index_text(
    conn: Conn, schema: sql.Identifier, runs: Sequence[Run], facts: dict[str, RunFacts]
) -> None:
    """Add the runs' text to the full-text index: a document per conversation and batch."""
    documents: list[tuple[str, str]] = []
    texts: dict[str, list[str]] = {}
    for run in runs:
        said = facts[run.run_id].text
        if said and run.conversation_id is not None:
            texts.setdefault(run.conversation_id, []).append(said)
    for cid, parts in sorted(texts.items()):
        body: list[str] = []
        size = 0
        for part in parts:
            if body and size + len(part) > _DOCUMENT_CHARS:
                documents.append((text(cid), text("\n\n".join(body))))
                body, size = [], 0
            body.append(part)
            size += len(part) + 2
        documents.append((text(cid), text("\n\n".join(body))))
    if documents:
        _stage(conn, _STAGED_TEXT, "conversation_id, body", documents)
        conn.execute(
            sql.SQL(
                "INSERT INTO {}.search_documents (conversation_id, body)"
                " SELECT conversation_id, to_tsvector('simple', body) FROM {}"
            ).format(schema, _STAGED_TEXT)
        )
