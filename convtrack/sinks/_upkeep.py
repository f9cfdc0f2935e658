"""Keeping each conversation's row, metadata index and search text up to date as runs arrive.

Runs of one conversation arrive in several batches and in any order (a child run usually
ends, so arrives, before its parent). Each batch adds what its new runs bring; the one thing
that a later run changes about an earlier one is nesting: an LLM run whose parent is not
written yet is counted as a call of its own and waits in `llm_runs_awaiting_parent` (with its
tokens and cost); when that parent arrives and is an LLM run of the same conversation, the
two are one call and the waiting run is taken back out. The result equals `summarise()` over
the same runs (a property test holds them equal).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence, Set
from typing import Any

from .._json import loads
from .._runs import Run, RunKind
from ._prices import cost_nanos
from ._summary import RunFacts, facts_of_runs
from ._totals import COLUMNS, NewRun, Totals
from ._usage import Tokens, tokens_of

_CHUNK = 500  # host parameters per IN (...) list
_LLM = RunKind.LLM


# A run just stored: the run, and its start and end in microseconds as stored.
Stored = tuple[Run, int, int]
# A new LLM run: the run, its facts, and where it is among its conversation's new runs.
_Call = tuple[Run, RunFacts, list[NewRun], int]


# A written parent of a new LLM run: an LLM run's (conversation, whether it reported tokens),
# or None for any other run.
_Parent = tuple[str | None, bool] | None
_AWAIT = (
    "INSERT OR IGNORE INTO llm_runs_awaiting_parent"
    " (parent_run_id, run_id, input_tokens, output_tokens, cost_nanos) VALUES (?, ?, ?, ?, ?)"
)
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
    mine = [stored for stored in new if stored[0].conversation_id is not None]
    if not mine:
        return
    groups: dict[str, list[NewRun]] = {}  # the new runs of each conversation
    llm: dict[str, _Call] = {}
    facts = facts_of_runs([run for run, _, _ in mine])
    indexed: dict[tuple[str, int], tuple[tuple[str, str], ...]] = {}  # metadata pairs, once
    for (run, start, end), said in zip(mine, facts, strict=True):
        cid: str = run.conversation_id  # type: ignore[assignment]
        group = groups.get(cid)
        if group is None:
            group = groups[cid] = []
        if run.kind is _LLM:
            llm[run.run_id] = (run, said, group, len(group))
        group.append((run, start, end, said, False, False))
        if said.pairs:  # (the runs of a conversation mostly share theirs)
            indexed[cid, id(said.pairs)] = said.pairs
    new_ids = {stored[0].run_id for stored in new}
    awaiting = _nest(llm, _parents(conn, new_ids, llm, base))
    totals: dict[str, Totals] = {}
    for cid, group in groups.items():
        delta = totals[cid] = Totals(cid, group[0][1], group[0][2])
        delta.add_runs(group)
    _take_back_nested(conn, _arrived_parents(conn, new_ids), llm, totals)
    if awaiting:
        conn.executemany(_AWAIT, awaiting)
    _store(conn, totals)
    if indexed:
        conn.executemany(
            "INSERT OR IGNORE INTO conversation_metadata (key, value, conversation_id)"
            " VALUES (?, ?, ?)",
            sorted(
                {(key, value, cid) for (cid, _), each in indexed.items() for key, value in each}
            ),
        )
    if search:
        _index_text(conn, groups)


def _index_text(conn: sqlite3.Connection, groups: dict[str, list[NewRun]]) -> None:
    """Add the runs' text to the full-text index: one document per conversation."""
    texts = {}
    for cid, group in groups.items():
        text = "\n\n".join(said.text for _, _, _, said, _, _ in group if said.text)
        if text:
            texts[cid] = text
    if not texts:
        return
    first = conn.execute("SELECT COALESCE(MAX(document_id), 0) FROM search_documents").fetchone()[0]
    documents = list(enumerate(sorted(texts), start=first + 1))
    conn.executemany(
        "INSERT INTO search_documents (document_id, conversation_id) VALUES (?, ?)", documents
    )
    conn.executemany(
        "INSERT INTO search_text (rowid, body) VALUES (?, ?)",
        [(document, texts[cid]) for document, cid in documents],
    )


def _parents(
    conn: sqlite3.Connection, new_ids: Set[str], llm: dict[str, _Call], base: int
) -> dict[str, _Parent]:
    """The parents of the new LLM runs `llm` that are written (new too, or stored at or below
    `base`): for an LLM run, its conversation and whether it reported tokens; None for any
    other run. A parent not written yet is left out. A parent in the same batch is not looked
    up (a run's parent usually arrives with it; bench_store.py)."""
    found: dict[str, _Parent] = {}
    wanted = set()
    for run, *_ in llm.values():
        parent_id = run.parent_run_id
        if parent_id is None or parent_id in found:
            continue
        parent = llm.get(parent_id)
        if parent is not None:
            found[parent_id] = (parent[0].conversation_id, parent[1].tokens is not None)
        elif parent_id in new_ids:
            found[parent_id] = None  # new, and not an LLM run of a conversation
        else:
            wanted.add(parent_id)
    for part in chunks(sorted(wanted)):
        for run_id, conversation_id, kind, usage in conn.execute(
            "SELECT run_id, conversation_id, kind, usage FROM runs"
            f" WHERE run_id IN ({_marks(len(part))}) AND rowid <= ?",
            (*part, base),
        ):
            if kind == _LLM.value:
                found[run_id] = (conversation_id, tokens_of(loads(usage)) is not None)
            else:
                found[run_id] = None
    return found


def _nest(llm: dict[str, _Call], parents: dict[str, _Parent]) -> list[tuple[Any, ...]]:
    """Mark each new LLM run inside an LLM run of its conversation (one call with it) in its
    group; the `llm_runs_awaiting_parent` rows of those whose parent is not written yet."""
    awaiting = []
    for run, said, group, index in llm.values():
        parent_id = run.parent_run_id
        if parent_id is None:
            continue
        if parent_id not in parents:  # not written yet: it may be an LLM run
            awaiting.append(_awaiting_row(parent_id, run.run_id, said.tokens, said.cost))
            continue
        parent = parents[parent_id]
        if parent is not None and parent[0] == run.conversation_id:
            group[index] = (*group[index][:4], True, parent[1])
    return awaiting


def _awaiting_row(
    parent_id: str, run_id: str, tokens: Tokens | None, nanos: int | None
) -> tuple[Any, ...]:
    """The `llm_runs_awaiting_parent` row of an LLM run whose parent is not written yet: its
    tokens and cost (nano-dollars)."""
    if tokens is None:
        return parent_id, run_id, None, None, nanos
    return parent_id, run_id, tokens.input, tokens.output, nanos


def await_parents(conn: sqlite3.Connection) -> None:
    """Fill `llm_runs_awaiting_parent` from the stored runs (a version-2 store has no such
    table): every LLM run of a conversation whose parent is not stored."""
    rows = conn.execute(
        "SELECT c.parent_run_id, c.run_id, c.usage, c.model, c.source FROM runs AS c"
        " WHERE c.kind = 'llm' AND c.parent_run_id IS NOT NULL"
        " AND c.conversation_id IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM runs AS p WHERE p.run_id = c.parent_run_id)"
    )
    awaiting = []
    for parent_id, run_id, usage, model, source in rows:
        tokens = tokens_of(loads(usage))
        awaiting.append(_awaiting_row(parent_id, run_id, tokens, cost_nanos(model, source, tokens)))
    conn.executemany(_AWAIT, awaiting)


def _arrived_parents(conn: sqlite3.Connection, new_ids: Set[str]) -> list[str]:
    """Which of the new runs some stored LLM run waits for (perhaps a few more), looked up
    from the smaller side: the whole waiting table when it is smaller than the batch (it
    usually holds a handful of rows), else each new run."""
    waiting = conn.execute(
        "SELECT DISTINCT parent_run_id FROM llm_runs_awaiting_parent LIMIT ?", (len(new_ids),)
    ).fetchall()
    if len(waiting) < len(new_ids):
        return sorted(new_ids & {row[0] for row in waiting})
    return sorted(new_ids)


def _take_back_nested(
    conn: sqlite3.Connection,
    new_ids: Sequence[str],
    llm: dict[str, _Call],
    totals: dict[str, Totals],
) -> None:
    """LLM runs stored before their parent, now new (among `new_ids`): when the parent is an
    LLM run of the same conversation, the two are one call, counted once. Either way they wait
    no more."""
    arrived = []
    for part in chunks(new_ids):
        for parent_id, conversation_id, input_tokens, output_tokens, nanos in conn.execute(
            "SELECT a.parent_run_id, r.conversation_id, a.input_tokens, a.output_tokens,"
            " a.cost_nanos FROM llm_runs_awaiting_parent AS a"
            " LEFT JOIN runs AS r ON r.run_id = a.run_id"  # (pruned since: no conversation)
            f" WHERE a.parent_run_id IN ({_marks(len(part))})",
            part,
        ):
            arrived.append(parent_id)
            parent = llm.get(parent_id)
            if parent is None or conversation_id != parent[0].conversation_id:
                continue
            delta = totals[conversation_id]
            delta.llm_count -= 1
            if parent[1].tokens is not None:  # the outer run's tokens and cost count instead
                tokens = None
                if input_tokens is not None:
                    tokens = Tokens(input_tokens, output_tokens, input_tokens + output_tokens)
                delta.count_call(tokens, nanos, -1)
    for part in chunks(sorted(set(arrived))):
        conn.execute(
            f"DELETE FROM llm_runs_awaiting_parent WHERE parent_run_id IN ({_marks(len(part))})",
            part,
        )


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
