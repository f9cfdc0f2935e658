"""Keeping each conversation's row, metadata index and search text up to date as runs arrive.

Runs of one conversation arrive in several batches and in any order (a child run usually
ends, so arrives, before its parent). Each batch adds what its new runs bring; the one thing
that a later run changes about an earlier one is nesting: an LLM run whose parent LLM run
arrives later was counted as a call of its own, and is taken back out then. The result
equals `summarise()` over the same runs (a property test holds them equal).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from .._json import loads
from .._runs import Run, RunKind
from ._prices import cost_nanos
from ._summary import RunFacts, facts_of
from ._totals import COLUMNS, Totals
from ._usage import tokens_of

_CHUNK = 500  # host parameters per IN (...) list


class Stored(NamedTuple):
    """A run just stored: its rowid, and its start and end in microseconds as stored."""

    rowid: int
    run: Run
    start: int
    end: int


_UPSERT = f"INSERT OR REPLACE INTO conversations ({COLUMNS}) VALUES ({', '.join('?' * 20)})"


def chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    """`items` in slices of at most `size`."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def update(conn: sqlite3.Connection, new: Sequence[Stored], base: int, search: bool) -> None:
    """Bring the conversations of `new` up to date; their runs are stored already.

    Args:
        conn: the store, inside the caller's write transaction.
        new: the new runs, their rowids all above `base` (runs at or below it were counted
            before).
        base: the highest rowid counted before this batch.
        search: whether to add their text to the full-text index.
    """
    mine = [stored for stored in new if stored.run.conversation_id is not None]
    if not mine:
        return
    top = max(stored.rowid for stored in mine)
    runs = [stored.run for stored in mine]
    facts = {run.run_id: facts_of(run) for run in runs}
    parents = _parents(conn, runs, top)
    totals: dict[str, Totals] = {}
    pairs: set[tuple[str, str, str]] = set()
    for _, run, start, end in mine:
        cid = run.conversation_id
        assert cid is not None
        times = (start, end)
        delta = totals.get(cid)
        if delta is None:
            delta = totals[cid] = Totals(cid, times[0], times[1])
        parent = parents.get(run.parent_run_id or "")
        nested = parent is not None and parent[0] == cid and run.kind is RunKind.LLM
        said = facts[run.run_id]
        delta.add(run, times, said, nested, nested and parent is not None and parent[1])
        for key, value in said.pairs:
            pairs.add((key, value, cid))
    _take_back_nested(conn, runs, facts, base, totals)
    _store(conn, totals)
    if pairs:
        conn.executemany(
            "INSERT OR IGNORE INTO conversation_metadata (key, value, conversation_id)"
            " VALUES (?, ?, ?)",
            sorted(pairs),
        )
    if search:
        _index_text(conn, runs, facts)


def _index_text(conn: sqlite3.Connection, runs: Sequence[Run], facts: dict[str, RunFacts]) -> None:
    """Add the runs' text to the full-text index: one document per conversation."""
    texts: dict[str, list[str]] = {}
    for run in runs:
        text = facts[run.run_id].text
        if text:
            texts.setdefault(run.conversation_id or "", []).append(text)
    if not texts:
        return
    first = conn.execute("SELECT COALESCE(MAX(document_id), 0) FROM search_documents").fetchone()[0]
    documents = list(enumerate(sorted(texts), start=first + 1))
    conn.executemany(
        "INSERT INTO search_documents (document_id, conversation_id) VALUES (?, ?)", documents
    )
    conn.executemany(
        "INSERT INTO search_text (rowid, body) VALUES (?, ?)",
        [(document, "\n\n".join(texts[cid])) for document, cid in documents],
    )


def _parents(
    conn: sqlite3.Connection, runs: Sequence[Run], top: int
) -> dict[str, tuple[str, bool]]:
    """The LLM parents (stored at or below `top`) of the LLM runs: their conversation and
    whether they reported tokens."""
    wanted = sorted(
        {r.parent_run_id for r in runs if r.kind is RunKind.LLM and r.parent_run_id is not None}
    )
    found: dict[str, tuple[str, bool]] = {}
    for part in chunks(wanted):
        for run_id, conversation_id, usage in conn.execute(
            "SELECT run_id, conversation_id, usage FROM runs"
            f" WHERE run_id IN ({_marks(len(part))}) AND kind = 'llm' AND rowid <= ?",
            (*part, top),
        ):
            found[run_id] = (conversation_id, tokens_of(loads(usage)) is not None)
    return found


def _take_back_nested(
    conn: sqlite3.Connection,
    runs: Sequence[Run],
    facts: dict[str, RunFacts],
    base: int,
    totals: dict[str, Totals],
) -> None:
    """LLM runs stored before whose parent LLM run is new: the same call, counted once."""
    llm = {r.run_id: r for r in runs if r.kind is RunKind.LLM}
    for part in chunks(sorted(llm)):
        for conversation_id, parent_id, usage, model, source in conn.execute(
            "SELECT conversation_id, parent_run_id, usage, model, source FROM runs"
            f" WHERE parent_run_id IN ({_marks(len(part))}) AND kind = 'llm'"
            " AND parent_run_id IS NOT NULL AND rowid <= ?",
            (*part, base),
        ):
            parent = llm[parent_id]
            if conversation_id != parent.conversation_id:
                continue
            delta = totals[conversation_id]
            delta.llm_count -= 1
            if facts[parent_id].tokens is not None:  # the outer run's tokens count instead
                tokens = tokens_of(loads(usage))
                delta.count_call(tokens, cost_nanos(model, source, tokens), -1)


def _store(conn: sqlite3.Connection, totals: dict[str, Totals]) -> None:
    """Merge the new totals into the stored rows and write them back."""
    ids = sorted(totals)
    for part in chunks(ids):
        for row in conn.execute(
            f"SELECT {COLUMNS} FROM conversations WHERE conversation_id IN ({_marks(len(part))})",
            part,
        ):
            stored = Totals.from_row(row)
            stored.merge(totals[stored.conversation_id])
            totals[stored.conversation_id] = stored
    conn.executemany(_UPSERT, [totals[cid].row() for cid in ids])
