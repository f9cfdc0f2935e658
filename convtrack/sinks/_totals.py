"""One conversation's totals as the store keeps them: read from a row, added to, written back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._json import dumps, loads
from .._runs import Run, RunKind
from ._summary import RunFacts, metadata_name, order_key

_INFERRED = ("auto-matched", "auto-new")
_LLM, _TOOL = RunKind.LLM, RunKind.TOOL
COLUMNS = (
    "conversation_id, user_id, agent_id, first_at, last_at, run_count, llm_count, inferred,"
    " error_count, input_tokens, output_tokens, cost_nanos, priced_count, first_input,"
    " first_input_key, last_output, last_output_key, tools, metadata, ended_at"
)
Key = tuple[int, str]  # (microseconds, run id): which run came first or last
Said = tuple[Key, str]
# A new run as `Totals.add_runs` counts it: (run, start, end in microseconds, its facts, an
# LLM run inside an LLM run, its tokens and cost counted on its parent)
NewRun = tuple[Run, int, int, RunFacts, bool, bool]


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
        if self.run_count == 0 and other.run_count:  # a row an end record made before any run
            self.first_at, self.last_at = other.first_at, other.last_at
        else:
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
        self.add_runs([(run, times[0], times[1], facts, nested, skip)])

    def add_runs(self, runs: Sequence[NewRun]) -> None:
        """Count new runs of this conversation, each as `add` would (in one pass each for the
        counts and for what was said: the store adds a write batch's runs per conversation;
        bench_store.py).

        Args:
            runs: (run, start, end, facts, nested, skip) of each, as `add` takes them.
        """
        self._count_runs(runs)
        self._keep_said(runs)

    def _count_runs(self, runs: Sequence[NewRun]) -> None:
        """Times, ids, counts, tokens and cost of new runs. (Comparisons in place of min()
        and max() calls: 0.77x the time of `add_runs`, bench_store.py's runs.)"""
        first_at, last_at = self.first_at, self.last_at
        user_id, agent_id = self.user_id, self.agent_id
        inferred, tools = self.inferred, self.tools
        llm_count = error_count = input_tokens = output_tokens = cost = priced = 0
        for run, start, end, facts, nested, skip in runs:
            if start < first_at:  # noqa: PLR1730 (see the docstring)
                first_at = start
            if end > last_at:  # noqa: PLR1730
                last_at = end
            user = run.user_id
            if user is not None and (user_id is None or user > user_id):
                user_id = user
            agent = run.agent_id
            if agent is not None and (agent_id is None or agent > agent_id):
                agent_id = agent
            if not inferred and run.grouping in _INFERRED:
                inferred = True
            if run.status == "error":
                error_count += 1
            kind = run.kind
            if kind is _LLM:
                if not nested:
                    llm_count += 1
            elif kind is _TOOL:
                tools.add(run.name)
            if not skip:
                tokens, nanos = facts.tokens, facts.cost
                if tokens is not None:
                    input_tokens += tokens.input
                    output_tokens += tokens.output
                if nanos is not None:
                    cost += nanos
                    priced += 1
        self.first_at, self.last_at = first_at, last_at
        self.user_id, self.agent_id = user_id, agent_id
        self.inferred = inferred
        self.run_count += len(runs)
        self.llm_count += llm_count
        self.error_count += error_count
        self.count_tokens(input_tokens, output_tokens, cost, priced)

    def _keep_said(self, runs: Sequence[NewRun]) -> None:
        """The first input, the last answer and the newest metadata among new runs."""
        first_input, last_output = self.first_input, self.last_output
        newest: dict[int, tuple[Key, Mapping[Any, Any]]] = {}  # metadata object -> its newest run
        for run, start, end, facts, _, _ in runs:
            text = facts.first_input
            if text is not None:
                key = (start, run.run_id)
                if first_input is None or key < first_input[0]:
                    first_input = (key, text)
            text = facts.answer
            if text is not None:
                key = (end, run.run_id)
                if last_output is None or key > last_output[0]:
                    last_output = (key, text)
            metadata = run.metadata
            if metadata:  # runs of a conversation mostly share one metadata object
                key, held = (start, run.run_id), newest.get(id(metadata))
                if held is None or held[0] < key:
                    newest[id(metadata)] = (key, metadata)
        self.first_input, self.last_output = first_input, last_output
        for key, metadata in newest.values():
            self.add_metadata(key, metadata)

    def count_tokens(self, input_tokens: int, output_tokens: int, nanos: int, priced: int) -> None:
        """Add tokens and the cost of `priced` calls (nano-dollars)."""
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.cost_nanos += nanos
        self.priced_count += priced

    def add_metadata(self, key: Key, metadata: Mapping[Any, Any]) -> None:
        """Merge a run's metadata: each name keeps the value of the newest run (`key`)."""
        known = self.metadata
        for raw, value in metadata.items():
            name = metadata_name(raw)
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
