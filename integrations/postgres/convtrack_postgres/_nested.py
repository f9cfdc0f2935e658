"""An LLM run inside an LLM run is the same call, counted once (as the SQLite store does),
whichever of the two is written first."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from psycopg import sql

from convtrack import Run, RunKind
from convtrack.sinks import ConversationTotals, RunFacts, cost_nanos, tokens_of

from ._values import Conn, text


def parents_of(
    conn: Conn, schema: sql.Identifier, runs: Sequence[Run]
) -> dict[str, tuple[str, bool]]:
    """The stored LLM parents of the LLM runs: their conversation, and whether they reported
    tokens."""
    wanted = sorted(
        {text(r.parent_run_id) for r in runs if r.kind is RunKind.LLM and r.parent_run_id}
    )
    if not wanted:
        return {}
    found = conn.execute(
        sql.SQL(
            "SELECT run_id, conversation_id, usage FROM {}.runs"
            " WHERE run_id = ANY(%s) AND kind = 'llm'"
        ).format(schema),
        (wanted,),
    ).fetchall()
    return {run_id: (cid, tokens_of(_loads(usage)) is not None) for run_id, cid, usage in found}


Child = tuple[str | None, str, str | None, str | None, str]


def stored_children(conn: Conn, schema: sql.Identifier, runs: Iterable[Run]) -> list[Child]:
    """The LLM runs already stored whose parent is one of these LLM runs (asked before the
    batch is inserted, under the batch's conversation locks): conversation, parent, usage,
    model, source."""
    llm = sorted({text(r.run_id) for r in runs if r.kind is RunKind.LLM})
    if not llm:
        return []
    return conn.execute(
        sql.SQL(
            "SELECT conversation_id, parent_run_id, usage, model, source FROM {}.runs"
            " WHERE parent_run_id = ANY(%s) AND kind = 'llm'"
        ).format(schema),
        (llm,),
    ).fetchall()


def take_back_nested(
    children: list[Child],
    runs: Sequence[Run],
    facts: dict[str, RunFacts],
    totals: dict[str, ConversationTotals],
) -> None:
    """LLM runs stored before whose parent LLM run is new: the same call, counted once."""
    llm = {text(r.run_id): r for r in runs if r.kind is RunKind.LLM}
    for conversation_id, parent_id, usage, model, source in children:
        parent = llm.get(parent_id)
        if parent is None or parent.conversation_id is None:
            continue
        cid = text(parent.conversation_id)
        if conversation_id != cid:
            continue
        delta = totals[cid]
        delta.llm_count -= 1
        if facts[parent.run_id].tokens is not None:  # the outer run's tokens count instead
            tokens = tokens_of(_loads(usage))
            delta.count_call(tokens, cost_nanos(model, source, tokens), -1)


def _loads(encoded: str | None) -> Any:
    return None if encoded is None else json.loads(encoded)
