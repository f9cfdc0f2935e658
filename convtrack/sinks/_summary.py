"""A conversation's summary, and what each run adds to it (the definition the store keeps).

`facts_of` reads once, when a run is written, what the summary needs from it: tokens, cost,
previews, search text, metadata pairs. `summarise` is the definition: the summary of a list
of runs, computed from scratch. The store keeps the same numbers up to date as runs arrive
(`_upkeep.py`); a test holds the two equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from .._guard import report
from .._json import dumps, loads, to_jsonable
from .._runs import Run, RunKind, times_ns
from ._prices import NANO, cost_nanos
from ._text import answer_only, as_text, input_messages, message_text, role_of
from ._usage import Tokens, tokens_of

PREVIEW_CHARS = 200  # first input and last answer, as the list shows them
SEARCH_CHARS = 8000  # of each run's text in the full-text index
MAX_METADATA_KEY = 200
MAX_METADATA_VALUE = 500
_INFERRED = ("auto-matched", "auto-new")
# A module global (the enum class's attribute costs more to read), with `answer_only` (the
# answer's role is not read) and a list join: 0.89x the time of reading a run's facts; loops
# in place of list comprehensions (each a function call in Python 3.11): 0.90x again
# (bench_store.py's runs, interleaved rounds).
_LLM = RunKind.LLM


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """One conversation as the store sees it, with its totals."""

    conversation_id: str
    user_id: str | None
    agent_id: str | None
    first_at: datetime
    last_at: datetime
    run_count: int
    llm_count: int
    inferred: bool = False  # decided by automatic grouping (no id was given)
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None  # US dollars; None when no call's model has a known price
    error_count: int = 0
    first_input: str | None = None  # what the user said first (a preview)
    last_output: str | None = None  # the model's last answer (a preview)
    tools: tuple[str, ...] = ()  # the names of the tools used, sorted
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False)  # merged, newest wins
    # When it ended: the time `end_conversation()` gave, or, for a conversation idle longer
    # than the store's `idle_timeout`, its last activity. None while it is open.
    ended_at: datetime | None = None
    feedback_count: int = 0  # feedback records on the conversation or its runs


class RunFacts(NamedTuple):
    """What one run adds to its conversation's summary, read once when it is written."""

    tokens: Tokens | None
    cost: int | None  # nano-dollars
    first_input: str | None
    answer: str | None
    text: str  # for the full-text index
    pairs: tuple[tuple[str, str], ...]  # metadata (key, value as text) for the index


def preview(text: str | None) -> str | None:
    """`text` cut to `PREVIEW_CHARS` (an ellipsis marks the cut); None or empty: None."""
    if not text:
        return None
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def metadata_text(value: Any) -> str | None:
    """A metadata value as the index holds it: a string as is, a number, bool or null as JSON.

    Nested values (lists, objects) and values longer than `MAX_METADATA_VALUE` are not indexed.
    """
    if type(value) is str:
        text = value
    elif value is None or isinstance(value, (str, bool, int, float)):
        text = value if isinstance(value, str) else dumps(value)
    else:
        return None
    return text if len(text) <= MAX_METADATA_VALUE else None


def metadata_name(name: Any) -> str:
    """A metadata key as JSON keeps it (a number or other key as its text)."""
    if type(name) is str:
        return name
    found: str = next(iter(loads(dumps({name: None}))))
    return found


def _pairs(metadata: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    found = []
    for raw, value in metadata.items():
        text = metadata_text(value)
        key = metadata_name(raw)
        if key and len(key) <= MAX_METADATA_KEY and text is not None:
            found.append((key, text))
    return tuple(found)


def _said(run: Run) -> tuple[str | None, str | None, list[str]]:
    """The user's input (preview source), the answer, and the new messages' text of an LLM run."""
    messages, _system = input_messages(run.inputs)
    if messages is None:
        said = [] if run.inputs is None else [as_text(run.inputs)]
        user = said[0] if said else None
    else:
        start, last_user = 0, None
        for index, message in enumerate(messages):
            role = role_of(message)
            if role == "assistant":
                start = index + 1
            elif role == "user":
                last_user = index
        said = []
        for message in messages[start:] if start else messages:  # (a loop: no list frame)
            said.append(message_text(message))
        if last_user is None:
            user = said[-1] if said else None
        elif last_user >= start:
            user = said[last_user - start]
        else:
            user = message_text(messages[last_user])
    answer = None if run.outputs is None else answer_only(run.outputs)
    if answer:
        said.append(answer)
    return user, answer, said


def facts_of(run: Run) -> RunFacts:
    """What `run` adds to its conversation's summary and search index (never raises)."""
    return _facts(run, _pairs(run.metadata) if run.metadata else ())


def facts_of_runs(runs: Sequence[Run]) -> list[RunFacts]:
    """`facts_of` each run, reading each metadata object once (the runs of a conversation
    mostly share one: a write batch reads it once, not per run; bench_store.py)."""
    pairs: dict[int, tuple[tuple[str, str], ...]] = {}
    found = []
    for run in runs:
        metadata = run.metadata
        if metadata:
            held = pairs.get(id(metadata))  # the runs hold their metadata: ids stay unique
            if held is None:
                held = pairs[id(metadata)] = _pairs(metadata)
            found.append(_facts(run, held))
        else:
            found.append(_facts(run, ()))
    return found


def _facts(run: Run, pairs: tuple[tuple[str, str], ...]) -> RunFacts:
    usage = run.usage
    tokens = tokens_of(usage) if usage else None
    user = answer = cost = None
    said: list[str] = []
    try:
        if run.kind is _LLM:
            user, answer, said = _said(run)
            cost = cost_nanos(run.model, run.source, tokens)
        else:
            if run.inputs is not None:
                said.append(as_text(run.inputs))
            if run.outputs is not None:
                said.append(as_text(run.outputs))
    except Exception as exc:  # odd data: the run is stored all the same, without previews
        report("reading a run's messages for its conversation's summary", exc)
    text = "\n".join(filter(None, said))
    if len(text) > SEARCH_CHARS:
        text = text[:SEARCH_CHARS]
    return RunFacts(tokens, cost, preview(user), preview(answer), text, pairs)


def order_key(when_us: int, run_id: str) -> str:
    """A string that sorts as (time, run id): which run is first or last, ties broken alike."""
    return f"{when_us:020d} {run_id}"


def summarise(conversation_id: str, runs: Iterable[Run]) -> ConversationSummary:
    """The summary of a conversation computed from all its runs (each run_id counted once).

    An LLM run inside an LLM run is the same model call: counted once, and its tokens and
    cost count only when the outer run reported none.
    """
    unique: dict[str, Run] = {}
    for run in runs:
        unique.setdefault(run.run_id, run)
    runs = list(unique.values())
    facts = {run.run_id: facts_of(run) for run in runs}
    llm = {run.run_id for run in runs if run.kind is RunKind.LLM}
    nested = {r.run_id for r in runs if r.run_id in llm and r.parent_run_id in llm}
    input_tokens = output_tokens = cost = priced = 0
    for run in runs:
        parent = run.parent_run_id
        if run.run_id in nested and parent is not None and facts[parent].tokens is not None:
            continue  # the outer run of the same call has the tokens
        tokens, nanos = facts[run.run_id].tokens, facts[run.run_id].cost
        if tokens is not None:
            input_tokens, output_tokens = input_tokens + tokens.input, output_tokens + tokens.output
        if nanos is not None:
            cost, priced = cost + nanos, priced + 1
    firsts, lasts = [], []
    for run in runs:
        start_ns, end_ns = times_ns(run)
        said = facts[run.run_id]
        if said.first_input is not None:
            firsts.append((order_key(start_ns // 1000, run.run_id), said.first_input))
        if said.answer is not None:
            lasts.append((order_key(end_ns // 1000, run.run_id), said.answer))
    metadata: dict[str, tuple[str, Any]] = {}
    for run in runs:
        key = order_key(times_ns(run)[0] // 1000, run.run_id)
        for raw, value in run.metadata.items():
            name = metadata_name(raw)
            if name not in metadata or metadata[name][0] < key:
                metadata[name] = (key, to_jsonable(value))
    users = [r.user_id for r in runs if r.user_id is not None]
    agents = [r.agent_id for r in runs if r.agent_id is not None]
    return ConversationSummary(
        conversation_id=conversation_id,
        user_id=max(users, default=None),
        agent_id=max(agents, default=None),
        first_at=min(r.started_at for r in runs),
        last_at=max(r.ended_at for r in runs),
        run_count=len(runs),
        llm_count=len(llm) - len(nested),
        inferred=any(r.grouping in _INFERRED for r in runs),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost=cost / NANO if priced else None,
        error_count=sum(r.status == "error" for r in runs),
        first_input=min(firsts)[1] if firsts else None,
        last_output=max(lasts)[1] if lasts else None,
        tools=tuple(sorted({r.name for r in runs if r.kind is RunKind.TOOL})),
        metadata={name: value for name, (_, value) in sorted(metadata.items())},
    )


def summaries(runs: Sequence[Run]) -> list[ConversationSummary]:
    """`summarise` for each conversation of `runs`, the most recently active first."""
    by_conversation: dict[str, list[Run]] = {}
    for run in runs:
        if run.conversation_id is not None:
            by_conversation.setdefault(run.conversation_id, []).append(run)
    found = [summarise(cid, group) for cid, group in by_conversation.items()]
    return sorted(found, key=lambda s: (-s.last_at.timestamp(), s.conversation_id))
