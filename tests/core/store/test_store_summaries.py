"""The conversation rows kept at write time equal a recomputation from the runs, whatever
the batches, their order, and runs exported twice."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_support import NEVER_IDLE, chat, run

from convtrack import Run, RunKind, SQLiteSink
from convtrack._runs import times_ns
from convtrack.sinks._prices import prices_available
from convtrack.sinks._summary import facts_of, facts_of_runs, summaries
from convtrack.sinks._totals import NewRun, Totals

KINDS = [RunKind.LLM, RunKind.LLM, RunKind.TOOL, RunKind.CHAIN, RunKind.FUNCTION]
USAGES = [
    None,
    {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
    {"input_tokens": 7, "output_tokens": 2},
    {"input_tokens": 5, "output_tokens": 1, "cache_read_input_tokens": 100},
]
MODELS = [None, "gpt-4o-mini", "claude-3-5-haiku-latest", "no-such-model"]
# Metadata objects that runs share (as runs of one `conversation()` scope do), or copy.
METADATA = [{}, {"customer": "c-1"}, {"customer": "c-2", "n": 5}, {"n": 6, 7: "seven"}]


@st.composite
def run_streams(draw: st.DrawFn) -> tuple[list[Run], list[list[Run]]]:
    """Runs of a few conversations (nested LLM calls included), cut into shuffled batches,
    some runs sent twice."""
    runs: list[Run] = []
    for i in range(draw(st.integers(1, 14))):
        kind = draw(st.sampled_from(KINDS))
        parent = draw(st.sampled_from([None, *[r.run_id for r in runs]]))
        cid = draw(st.sampled_from(["a", "b", "c"]))
        if parent is not None and draw(st.booleans()):
            cid = next(r.conversation_id for r in runs if r.run_id == parent) or cid
        fields = {
            "kind": kind,
            "at": draw(st.integers(0, 20)),
            "duration": draw(st.integers(0, 5)),
            "parent": parent,
            "user_id": draw(st.sampled_from([None, "u1", "u2"])),
            "agent_id": draw(st.sampled_from([None, "bot"])),
            "status": draw(st.sampled_from(["ok", "ok", "error"])),
            "grouping": draw(st.sampled_from(["context", "auto-new"])),
            "usage": draw(st.sampled_from(USAGES)),
            "model": draw(st.sampled_from(MODELS)),
            "source": draw(st.sampled_from(["openai", "anthropic", "langchain"])),
            "metadata": draw(st.sampled_from(METADATA)),
            "name": draw(st.sampled_from(["search", "lookup", "chat"])),
        }
        if draw(st.booleans()):  # an equal copy, not the object other runs share
            fields["metadata"] = dict(fields["metadata"])
        if draw(st.booleans()):
            runs.append(chat(f"r{i}", cid, f"question {i}", f"answer {i}", **fields))
        else:
            runs.append(run(f"r{i}", cid, **fields))
    order = draw(st.permutations(runs))
    twice = draw(st.lists(st.sampled_from(runs), max_size=3))
    stream = [*order, *twice]
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=4)))
    batches = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    return runs, [b for b in batches if b]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(stream=run_streams())
def test_rows_equal_recomputation(
    stream: tuple[list[Run], list[list[Run]]], new_store: Callable[[], Any]
) -> None:
    """After any batching and order of the runs, every summary equals `summarise` of them."""
    runs, batches = stream
    sink = new_store()
    try:
        for batch in batches:
            sink.export(batch)
        assert sink.conversations(None) == summaries(runs)
        assert sink.count() == len(runs)
    finally:
        sink.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=run_streams())
def test_a_batch_counted_at_once_equals_counting_run_by_run(
    stream: tuple[list[Run], list[list[Run]]],
) -> None:
    """`Totals.add_runs` (a write batch's runs of a conversation at once, metadata read once
    per object) gives the totals of `Totals.add` run by run; `facts_of_runs` those of
    `facts_of`."""
    runs, _ = stream
    facts = facts_of_runs(runs)
    assert facts == [facts_of(run) for run in runs]
    llm = {r.run_id: said for r, said in zip(runs, facts, strict=True) if r.kind is RunKind.LLM}
    by_id = {r.run_id: r for r in runs}
    one: dict[str | None, Totals] = {}
    groups: dict[str | None, list[NewRun]] = {}
    for each, said in zip(runs, facts, strict=True):
        start_ns, end_ns = times_ns(each)
        parent = each.parent_run_id or ""
        nested = each.kind is RunKind.LLM and parent in llm
        nested = nested and by_id[parent].conversation_id == each.conversation_id
        skip = nested and llm[parent].tokens is not None
        times = (start_ns // 1000, end_ns // 1000)
        cid = each.conversation_id
        one.setdefault(cid, Totals(cid or "", *times)).add(each, times, said, nested, skip)
        groups.setdefault(cid, []).append((each, *times, said, nested, skip))
    for cid, group in groups.items():
        many = Totals(cid or "", group[0][1], group[0][2])
        many.add_runs(group)
        assert many == one[cid]


def test_nested_llm_call_counted_once_whichever_arrives_first(
    new_store: Callable[[], Any],
) -> None:
    """An SDK call inside a chat model's run is one call: its tokens count only once."""
    usage = {"input_tokens": 10, "output_tokens": 4}
    outer = run("outer", kind=RunKind.LLM, usage=usage, model="gpt-4o-mini", source="openai")
    inner = run("inner", kind=RunKind.LLM, parent="outer", usage=usage, at=0.5, duration=0.1)
    for order in ([inner], [outer]), ([outer], [inner]), ([inner, outer],):
        sink = new_store()
        for batch in order:
            sink.export(batch)
        (summary,) = sink.conversations()
        assert (summary.llm_count, summary.input_tokens, summary.output_tokens) == (1, 10, 4)
        assert (summary.cost is not None) is prices_available()
        sink.close()


def test_totals_previews_tools_and_metadata(new_store: Callable[[], Any]) -> None:
    """A summary carries tokens, cost, errors, first input, last answer, tools, metadata."""
    sink = new_store()
    sink.export(
        [
            chat(
                "r2", "c1", "and the refund?", "It is on its way.", at=10,
                usage={"prompt_tokens": 1000, "completion_tokens": 100},
                model="gpt-4o-mini", source="openai", metadata={"customer_id": "cust-77"},
            ),
            chat(
                "r1", "c1", "Where is my order?", "It shipped.", at=0,
                usage={"input_tokens": 50, "output_tokens": 5}, model="unknown-model",
                metadata={"customer_id": "cust-1", "plan": "pro"},
            ),
            run("t1", "c1", kind=RunKind.TOOL, name="lookup_order", at=5, status="error",
                error="TimeoutError"),
        ]
    )  # fmt: skip
    (s,) = sink.conversations()
    assert (s.input_tokens, s.output_tokens, s.error_count) == (1050, 105, 1)
    # gpt-4o-mini only: the unknown model adds nothing (no price tables: no cost at all)
    assert s.cost == (pytest.approx(0.00021) if prices_available() else None)
    assert (s.first_input, s.last_output) == ("Where is my order?", "It is on its way.")
    assert s.tools == ("lookup_order",)
    assert s.metadata == {"customer_id": "cust-77", "plan": "pro"}


def test_odd_metadata_is_summarised_like_the_recomputation(tmp_path: Path) -> None:
    """Metadata with number keys, tuples, sets, bytes and huge numbers summarise alike."""
    odd = {7: "seven", "t": (1, 2), "s": {3}, "b": b"\xff", "big": 2**80, "nested": {"a": [1]}}
    runs = [chat("r1", "c1", "q", "a", metadata=odd), run("r2", "c1", at=3, metadata={7: 8})]
    sink = SQLiteSink(tmp_path / "s.db", idle_timeout=NEVER_IDLE)
    sink.export(runs)
    (summary,) = sink.conversations()
    assert summary == summaries(runs)[0]
    assert summary.metadata == {
        "7": 8,
        "b": "\\xff",
        "big": str(2**80),
        "nested": {"a": [1]},
        "s": [3],
        "t": [1, 2],
    }
    sink.close()


def test_unknown_model_has_no_cost(tmp_path: Path) -> None:
    """A conversation whose models have no known price has cost None, not 0."""
    sink = SQLiteSink(tmp_path / "s.db", idle_timeout=NEVER_IDLE)
    sink.export([chat("r1", "c1", "q", "a", usage={"input_tokens": 5}, model="my-own-model")])
    assert sink.conversations()[0].cost is None
    sink.close()


def _write_half(path: str, runs: list[Run]) -> None:
    sink = SQLiteSink(path, idle_timeout=NEVER_IDLE)
    for i in range(0, len(runs), 7):
        sink.export(runs[i : i + 7])
    sink.close()


def test_two_processes_writing_at_once(tmp_path: Path) -> None:
    """Two processes exporting runs of the same conversations at once leave exact summaries."""
    runs = []
    for n in range(120):
        cid = f"c{n % 9}"
        if n % 3 == 0:
            runs.append(chat(f"r{n}", cid, f"q{n}", f"a{n}", at=n, usage={"input_tokens": n}))
        else:
            runs.append(run(f"r{n}", cid, at=n, kind=RunKind.LLM, parent=f"r{n - n % 3}"))
    path = str(tmp_path / "shared.db")
    SQLiteSink(path, idle_timeout=NEVER_IDLE).close()
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write_half, args=(path, runs[start::2])) for start in (0, 1)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
    assert [w.exitcode for w in writers] == [0, 0]
    sink = SQLiteSink(path, idle_timeout=NEVER_IDLE)
    assert sink.count() == len(runs)
    assert sink.conversations(None) == summaries(runs)
    sink.close()


def _waiting(sink: SQLiteSink) -> list[str]:
    rows = sink._conn.execute("SELECT run_id FROM llm_runs_awaiting_parent ORDER BY run_id")
    return [r[0] for r in rows]


def test_only_llm_runs_whose_parent_is_not_written_wait(tmp_path: Path) -> None:
    """An LLM run waits for its parent only until the parent is written (whatever its kind);
    a parent in the same batch or written before leaves nothing waiting."""
    sink = SQLiteSink(tmp_path / "s.db", idle_timeout=NEVER_IDLE)
    sink.export([run("tool", kind=RunKind.TOOL)])
    sink.export(
        [
            run("in-1", kind=RunKind.LLM, parent="chain"),  # its parent comes later
            run("in-2", kind=RunKind.LLM, parent="tool"),  # written before
            run("in-3", kind=RunKind.LLM, parent="same"),  # in this batch
            run("same", kind=RunKind.CHAIN),
        ]
    )
    assert _waiting(sink) == ["in-1"]
    sink.export([run("chain", kind=RunKind.CHAIN)])
    assert _waiting(sink) == []
    (summary,) = sink.conversations()
    assert summary.llm_count == 3
    sink.close()


def test_a_waiting_run_pruned_before_its_parent_comes_is_not_taken_back(tmp_path: Path) -> None:
    """Prune removes what waited for the deleted runs; a parent arriving after its child was
    pruned counts as a call of its own."""
    usage = {"input_tokens": 10, "output_tokens": 4}
    sink = SQLiteSink(tmp_path / "s.db", idle_timeout=NEVER_IDLE)
    sink.export([run("inner", "old", kind=RunKind.LLM, parent="outer", usage=usage)])
    sink.export([run("keep", "new", kind=RunKind.LLM, parent="later", usage=usage, at=500)])
    assert _waiting(sink) == ["inner", "keep"]
    assert sink.prune(sink.conversations()[0].last_at) == 1  # "old"
    assert _waiting(sink) == ["keep"]
    sink._conn.execute("INSERT INTO llm_runs_awaiting_parent VALUES ('outer', 'inner', 10, 4, 0)")
    sink.export([run("outer", "old", kind=RunKind.LLM, usage=usage, at=600)])  # a stale row
    old = {s.conversation_id: s for s in sink.conversations()}["old"]
    assert (old.run_count, old.llm_count, old.input_tokens) == (1, 1, 10)
    assert _waiting(sink) == ["keep"]
    sink.close()
