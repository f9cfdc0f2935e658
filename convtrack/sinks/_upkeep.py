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
from typing import Any

from .._json import loads
from .._runs import Run, RunKind
from ._prices import cost_nanos
from ._summary import RunFacts, facts_of_runs
from ._totals import COLUMNS, NewRun, Totals
from ._usage import tokens_of

_CHUNK = 500  # host parameters per IN (...) list
_LLM = RunKind.LLM


# A run just stored: the run, and its start and end in microseconds as stored.
Stored = tuple[Run, int, int]
# A new LLM run: the run, its facts, and where it is among its conversation's new runs.
_Call = tuple[Run, RunFacts, list[NewRun], int]


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
    parents = _parents(conn, llm, base)
    for run, _, group, index in llm.values():  # an LLM run inside an LLM run: one call
        parent = parents.get(run.parent_run_id or "")
        if parent is not None and parent[0] == run.conversation_id:
            group[index] = (*group[index][:4], True, parent[1])
    totals: dict[str, Totals] = {}
    for cid, group in groups.items():
        delta = totals[cid] = Totals(cid, group[0][1], group[0][2])
        delta.add_runs(group)
    _take_back_nested(conn, llm, base, totals)
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
    conn: sqlite3.Connection, llm: dict[str, _Call], base: int
) -> dict[str, tuple[str | None, bool]]:
    """The LLM parents of the new LLM runs `llm` (new too, or stored at or below `base`): their
    conversation and whether they reported tokens. A parent in the same batch is not looked
    up (a chat model's run usually arrives with its SDK call's; bench_store.py)."""
    found: dict[str, tuple[str | None, bool]] = {}
    wanted = set()
    for run, *_ in llm.values():
        parent_id = run.parent_run_id
        if parent_id is None:
            continue
        parent = llm.get(parent_id)
        if parent is None:
            wanted.add(parent_id)
        else:
            found[parent_id] = (parent[0].conversation_id, parent[1].tokens is not None)
    for part in chunks(sorted(wanted)):
        for run_id, conversation_id, usage in conn.execute(
            "SELECT run_id, conversation_id, usage FROM runs"
            f" WHERE run_id IN ({_marks(len(part))}) AND kind = 'llm' AND rowid <= ?",
            (*part, base),
        ):
            found[run_id] = (conversation_id, tokens_of(loads(usage)) is not None)
    return found


def _take_back_nested(
    conn: sqlite3.Connection,
    llm: dict[str, _Call],
    base: int,
    totals: dict[str, Totals],
) -> None:
    """LLM runs stored before whose parent LLM run is new: the same call, counted once."""
    for part in chunks(sorted(llm)):
        for conversation_id, parent_id, usage, model, source in conn.execute(
            "SELECT conversation_id, parent_run_id, usage, model, source FROM runs"
            f" WHERE parent_run_id IN ({_marks(len(part))}) AND kind = 'llm'"
            " AND parent_run_id IS NOT NULL AND rowid <= ?",
            (*part, base),
        ):
            parent, said, _, _ = llm[parent_id]
            if conversation_id != parent.conversation_id:
                continue
            delta = totals[conversation_id]
            delta.llm_count -= 1
            if said.tokens is not None:  # the outer run's tokens count instead
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
