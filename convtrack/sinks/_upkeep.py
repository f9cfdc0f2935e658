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
from dataclasses import dataclass, field
from typing import Any

from .._json import dumps, loads
from .._runs import Run, RunKind, times_ns
from ._prices import cost_nanos
from ._summary import RunFacts, facts_of, order_key
from ._usage import tokens_of

_CHUNK = 500  # host parameters per IN (...) list
_INFERRED = ("auto-matched", "auto-new")
COLUMNS = (
    "conversation_id, user_id, agent_id, first_at, last_at, run_count, llm_count, inferred,"
    " error_count, input_tokens, output_tokens, cost_nanos, priced_count, first_input,"
    " first_input_key, last_output, last_output_key, tools, metadata, ended_at"
)
Key = tuple[int, str]  # (microseconds, run id): which run came first or last
Said = tuple[Key, str]
_UPSERT = f"INSERT OR REPLACE INTO conversations ({COLUMNS}) VALUES ({', '.join('?' * 20)})"


@dataclass
class Totals:
    """One conversation's row while it is being brought up to date."""

    conversation_id: str
    first_at: int
    last_at: int
    user_id: str | None = None
    agent_id: str | None = None
    run_count: int = 0
    llm_count: int = 0
    inferred: bool = False
    error_count: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_nanos: int = 0
    priced_count: int = 0
    first_input: tuple[Key, str] | None = None  # (which run, text)
    last_output: tuple[Key, str] | None = None
    tools: set[str] = field(default_factory=set)
    metadata: dict[str, tuple[Key, Any]] = field(default_factory=dict)  # name -> (run, value)
    ended_at: int | None = None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Totals:
        """The totals of a stored row (columns in `COLUMNS` order)."""
        return cls(
            conversation_id=row[0],
            user_id=row[1],
            agent_id=row[2],
            first_at=row[3],
            last_at=row[4],
            run_count=row[5],
            llm_count=row[6],
            inferred=bool(row[7]),
            error_count=row[8],
            input_tokens=row[9],
            output_tokens=row[10],
            cost_nanos=row[11],
            priced_count=row[12],
            first_input=None if row[14] is None else (_key(row[14]), row[13]),
            last_output=None if row[16] is None else (_key(row[16]), row[15]),
            tools=set(loads(row[17])),
            metadata={name: (_key(k), v) for name, (k, v) in loads(row[18]).items()},
            ended_at=row[19],
        )

    def row(self) -> tuple[Any, ...]:
        """The row to store (columns in `COLUMNS` order)."""
        first, last = self.first_input or (None, None), self.last_output or (None, None)
        return (
            self.conversation_id,
            self.user_id,
            self.agent_id,
            self.first_at,
            self.last_at,
            self.run_count,
            self.llm_count,
            int(self.inferred),
            self.error_count,
            self.input_tokens,
            self.output_tokens,
            self.cost_nanos,
            self.priced_count,
            first[1],
            None if first[0] is None else order_key(*first[0]),
            last[1],
            None if last[0] is None else order_key(*last[0]),
            dumps(sorted(self.tools)),
            dumps({name: (order_key(*k), v) for name, (k, v) in self.metadata.items()}),
            self.ended_at,
        )

    def merge(self, other: Totals) -> None:
        """Add `other` (the same conversation's new runs) to these totals."""
        self.user_id = _max(self.user_id, other.user_id)
        self.agent_id = _max(self.agent_id, other.agent_id)
        self.first_at = min(self.first_at, other.first_at)
        self.last_at = max(self.last_at, other.last_at)
        self.run_count += other.run_count
        self.llm_count += other.llm_count
        self.inferred = self.inferred or other.inferred
        self.error_count += other.error_count
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost_nanos += other.cost_nanos
        self.priced_count += other.priced_count
        self.first_input = _first(self.first_input, other.first_input)
        self.last_output = _last(self.last_output, other.last_output)
        self.tools |= other.tools
        for key, entry in other.metadata.items():
            if key not in self.metadata or self.metadata[key][0] < entry[0]:
                self.metadata[key] = entry

    def add(
        self, run: Run, times: tuple[int, int], facts: RunFacts, nested: bool, skip: bool
    ) -> None:
        """Count one new run of this conversation.

        Args:
            run: the run.
            times: its start and end, in microseconds.
            facts: what it adds (`facts_of`).
            nested: it is an LLM run inside an LLM run (the same call).
            skip: its tokens and cost are its parent's (counted there).
        """
        start, end = times
        self.first_at = min(self.first_at, start)
        self.last_at = max(self.last_at, end)
        if run.user_id is not None:
            self.user_id = _max(self.user_id, run.user_id)
        if run.agent_id is not None:
            self.agent_id = _max(self.agent_id, run.agent_id)
        self.run_count += 1
        if run.grouping in _INFERRED:
            self.inferred = True
        if run.status == "error":
            self.error_count += 1
        kind = run.kind
        if kind is RunKind.LLM and not nested:
            self.llm_count += 1
        elif kind is RunKind.TOOL:
            self.tools.add(run.name)
        if not skip:
            self.count_call(facts.tokens, facts.cost, 1)
        if facts.first_input is not None:
            self.first_input = _first(self.first_input, ((start, run.run_id), facts.first_input))
        if facts.answer is not None:
            self.last_output = _last(self.last_output, ((end, run.run_id), facts.answer))
        if run.metadata:
            key = (start, run.run_id)
            known = self.metadata
            for name, value in run.metadata.items():
                if name not in known or known[name][0] < key:
                    known[name] = (key, value)

    def count_call(self, tokens: Any, nanos: int | None, sign: int) -> None:
        """Add (sign 1) or take back (sign -1) one call's tokens and cost."""
        if tokens is not None:
            self.input_tokens += sign * tokens.input
            self.output_tokens += sign * tokens.output
        if nanos is not None:
            self.cost_nanos += sign * nanos
            self.priced_count += sign


def _key(text: str) -> Key:
    """The (microseconds, run id) of an `order_key` string."""
    when, run_id = text.split(" ", 1)
    return int(when), run_id


def _max(a: str | None, b: str | None) -> str | None:
    return b if a is None else a if b is None else max(a, b)


def _first(a: Said | None, b: Said | None) -> Said | None:
    return b if a is None else a if b is None else min(a, b)


def _last(a: Said | None, b: Said | None) -> Said | None:
    return b if a is None else a if b is None else max(a, b)


def chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    """`items` in slices of at most `size`."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def update(
    conn: sqlite3.Connection, new: Sequence[tuple[int, Run]], base: int, search: bool
) -> None:
    """Bring the conversations of `new` up to date; their runs are stored already.

    Args:
        conn: the store, inside the caller's write transaction.
        new: the new runs with their rowids, all above `base` (runs at or below it were
            counted before).
        base: the highest rowid counted before this batch.
        search: whether to add their text to the full-text index.
    """
    mine = [(rowid, run) for rowid, run in new if run.conversation_id is not None]
    if not mine:
        return
    top = max(rowid for rowid, _ in mine)
    facts = {run.run_id: facts_of(run) for _, run in mine}
    parents = _parents(conn, [run for _, run in mine], top)
    totals: dict[str, Totals] = {}
    pairs: set[tuple[str, str, str]] = set()
    for _, run in mine:
        cid = run.conversation_id
        assert cid is not None
        start_ns, end_ns = times_ns(run)
        times = (start_ns // 1000, end_ns // 1000)
        delta = totals.get(cid)
        if delta is None:
            delta = totals[cid] = Totals(cid, times[0], times[1])
        parent = parents.get(run.parent_run_id or "")
        nested = parent is not None and parent[0] == cid and run.kind is RunKind.LLM
        said = facts[run.run_id]
        delta.add(run, times, said, nested, nested and parent is not None and parent[1])
        for key, value in said.pairs:
            pairs.add((key, value, cid))
    _take_back_nested(conn, [run for _, run in mine], facts, base, totals)
    _store(conn, totals)
    if pairs:
        conn.executemany(
            "INSERT OR IGNORE INTO conversation_metadata (key, value, conversation_id)"
            " VALUES (?, ?, ?)",
            sorted(pairs),
        )
    if search:
        _index_text(conn, mine, facts)


def _index_text(
    conn: sqlite3.Connection, runs: Sequence[tuple[int, Run]], facts: dict[str, RunFacts]
) -> None:
    """Add the runs' text to the full-text index: one document per conversation."""
    texts: dict[str, list[str]] = {}
    for _, run in runs:
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
