"""Rows of the SQLite store <-> runs and conversation summaries, and the page cursor."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from .._json import dumps, loads
from .._runs import Run, RunKind, datetime_of_ns, times_ns
from ._prices import NANO
from ._query import encode_cursor
from ._summary import ConversationSummary
from ._totals import Totals

COLUMNS = (
    "run_id, parent_run_id, root_run_id, conversation_id, user_id, agent_id, kind, name,"
    " source, grouping, started_at, ended_at, status, error, model, inputs, outputs, usage,"
    " metadata"
)


_MISSING: Any = object()


def from_micros(us: int) -> datetime:
    """The UTC datetime of microseconds since the epoch."""
    return datetime_of_ns(us * 1000)


def row_of(run: Run, times: tuple[int, int] | None = None) -> tuple[Any, ...]:
    """The `runs` row of a run (columns in `COLUMNS` order).

    Args:
        run: the run.
        times: its start and end in microseconds, when known already.
    """
    if times is None:
        start_ns, end_ns = times_ns(run)
        times = (start_ns // 1000, end_ns // 1000)
    return rows_of([(run, *times)])[0]


def rows_of(runs: Sequence[tuple[Run, int, int]]) -> list[tuple[Any, ...]]:
    """`row_of` each (run, start, end in microseconds), each metadata object made JSON once
    (the runs of a conversation mostly share one) and each row written out in the loop (no
    call per column): 0.88x the time of `row_of` each (bench_store.py's runs)."""
    texts: dict[int, str | None] = {}
    rows = []
    for run, start, end in runs:
        metadata = run.metadata
        text = texts.get(id(metadata), _MISSING)  # the runs hold their metadata: ids stay unique
        if text is _MISSING:
            text = texts[id(metadata)] = dumps(metadata) if metadata else None
        inputs, outputs, usage = run.inputs, run.outputs, run.usage
        rows.append(
            (
                run.run_id,
                run.parent_run_id,
                run.root_run_id,
                run.conversation_id,
                run.user_id,
                run.agent_id,
                run.kind.value,
                run.name,
                run.source,
                run.grouping,
                start,
                end,
                run.status,
                run.error,
                run.model,
                None if inputs is None else dumps(inputs),
                None if outputs is None else dumps(outputs),
                None if usage is None else dumps(usage),
                text,
            )
        )
    return rows


def run_of(row: sqlite3.Row | Mapping[str, Any]) -> Run:
    """The run of a `runs` row (a `sqlite3.Row`, or a mapping of column to value)."""
    return Run(
        run_id=row["run_id"],
        parent_run_id=row["parent_run_id"],
        root_run_id=row["root_run_id"],
        conversation_id=row["conversation_id"],
        user_id=row["user_id"],
        agent_id=row["agent_id"],
        kind=RunKind(row["kind"]),
        name=row["name"],
        source=row["source"],
        grouping=row["grouping"],
        started_at=from_micros(row["started_at"]),
        ended_at=from_micros(row["ended_at"]),
        status=row["status"],
        error=row["error"],
        model=row["model"],
        inputs=loads(row["inputs"]),
        outputs=loads(row["outputs"]),
        usage=loads(row["usage"]),
        metadata=loads(row["metadata"]) or {},
    )


def summary_of(row: Sequence[Any], idle_before: int | None = None) -> ConversationSummary:
    """The summary of a `conversations` row (columns in `_totals.COLUMNS` order, then the
    feedback count when the query read it).

    Args:
        row: the row.
        idle_before: a conversation last active before this time (microseconds) counts as
            ended then, if `end_conversation()` did not end it.
    """
    totals = Totals.from_row(row)
    ended = totals.ended_at
    if ended is None and idle_before is not None and totals.last_at < idle_before:
        ended = totals.last_at
    return ConversationSummary(
        conversation_id=totals.conversation_id,
        user_id=totals.user_id,
        agent_id=totals.agent_id,
        first_at=from_micros(totals.first_at),
        last_at=from_micros(totals.last_at),
        run_count=totals.run_count,
        llm_count=totals.llm_count,
        inferred=totals.inferred,
        input_tokens=totals.input_tokens,
        output_tokens=totals.output_tokens,
        cost=totals.cost_nanos / NANO if totals.priced_count else None,
        error_count=totals.error_count,
        first_input=None if totals.first_input is None else totals.first_input[1],
        last_output=None if totals.last_output is None else totals.last_output[1],
        tools=tuple(sorted(totals.tools)),
        metadata={key: entry[1] for key, entry in sorted(totals.metadata.items())},
        ended_at=None if ended is None else from_micros(ended),
        feedback_count=row[20] if len(row) > 20 else 0,
    )


def next_cursor(page: Sequence[ConversationSummary]) -> str | None:
    """The `before=` cursor for the page after `page` (None when `page` is empty)."""
    if not page:
        return None
    last = page[-1]
    return encode_cursor(int(last.last_at.timestamp() * 1_000_000), last.conversation_id)
