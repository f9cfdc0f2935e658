"""search_runs() and run() on each store: every filter alone and combined, pages in both
orders, hostile strings literal, bad filters a clear ValueError."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from store_support import T0, chat, run

from convtrack import Run, RunKind
from convtrack.sinks import next_cursor, next_run_cursor


def corpus() -> list[Run]:
    """Three conversations of LLM calls and tool runs, models, errors, metadata and words."""
    runs = []
    for n in range(12):
        cid = f"conv-{n % 3}"
        if n % 2:
            runs.append(
                run(f"tool-{n:02d}", cid, at=n, kind=RunKind.TOOL, name=f"lookup_{n % 4}",
                    status="error" if n % 5 == 0 else "ok",
                    error="timeout ' OR 1=1 --" if n % 5 == 0 else None,
                    metadata={"step": n, "flag": n % 3 == 0, "note": None, "deep": {"a": 1}})
            )  # fmt: skip
        else:
            runs.append(
                chat(f"llm-{n:02d}", cid, f'parcel {n} "late" 100%_\\', f"answer {n} é\n",
                     at=n, model="gpt-4o" if n % 4 else "claude", source="openai",
                     metadata={"customer_id": f"cust-{n % 3}", "nul\x00key": "v"})
            )  # fmt: skip
    runs.append(run("loose", None, at=20, name="no conversation"))
    return runs


@pytest.fixture
def store(new_store: Callable[[], Any]) -> Any:
    """A store (of each kind) holding `corpus()`."""
    sink = new_store()
    sink.export(corpus())
    return sink


def ids(runs: list[Run]) -> list[str]:
    """The run ids, in the order given."""
    return [r.run_id for r in runs]


NEWEST = ["loose", *[f"{'tool' if n % 2 else 'llm'}-{n:02d}" for n in range(11, -1, -1)]]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, NEWEST),
        ({"conversation_id": "conv-1"}, ["llm-10", "tool-07", "llm-04", "tool-01"]),
        ({"kind": "tool", "status": "error"}, ["tool-05"]),
        ({"status": "ok", "kind": "tool"}, ["tool-11", "tool-09", "tool-07", "tool-03", "tool-01"]),
        ({"model": "claude"}, ["llm-08", "llm-04", "llm-00"]),
        ({"since": T0 + timedelta(seconds=10)}, ["loose", "tool-11", "llm-10"]),
        ({"until": T0 + timedelta(seconds=2)}, ["tool-01", "llm-00"]),
        ({"metadata": {"customer_id": "cust-1"}}, ["llm-10", "llm-04"]),
        ({"metadata": {"step": 3}}, ["tool-03"]),
        ({"metadata": {"step": "3"}}, ["tool-03"]),  # a number matches its text
        ({"metadata": {"flag": True}}, ["tool-09", "tool-03"]),
        ({"metadata": {"note": None}}, [f"tool-{n:02d}" for n in (11, 9, 7, 5, 3, 1)]),
        ({"metadata": {"deep": '{"a":1}'}}, []),  # nested values are not matched
        ({"metadata": {"customer_id": "cust-0"}, "kind": "llm"}, ["llm-06", "llm-00"]),
        ({"text": "PARCEL 6"}, ["llm-06"]),
        ({"text": '"late" 100%_\\'}, [f"llm-{n:02d}" for n in range(10, -1, -2)]),
        ({"text": "é\n"}, [f"llm-{n:02d}" for n in range(10, -1, -2)]),
        ({"text": "' OR 1=1"}, ["tool-05"]),
        ({"text": "lookup_3"}, ["tool-11", "tool-07", "tool-03"]),
        ({"text": "%"}, [f"llm-{n:02d}" for n in range(10, -1, -2)]),
        ({"text": "   "}, NEWEST),
        ({"kind": "llm", "conversation_id": "conv-0", "model": "gpt-4o"}, ["llm-06"]),
    ],
    ids=str,
)
def test_each_filter_alone_and_combined(store: Any, filters: dict[str, Any], expected: Any) -> None:
    """Each filter keeps exactly the runs that match it, newest first."""
    assert ids(store.search_runs(None, **filters)) == expected
    assert ids(store.search_runs(None, oldest_first=True, **filters)) == expected[::-1]


@pytest.mark.parametrize("oldest_first", [False, True])
@pytest.mark.parametrize("size", [1, 4, 13, 50])
def test_pages_return_every_run_exactly_once(
    new_store: Callable[[], Any], oldest_first: bool, size: int
) -> None:
    """Keyset pages (runs tying on their start time too) hold every run exactly once."""
    sink = new_store()
    sink.export([run(f"r{n:02d}", f"c{n % 4}", at=n // 3) for n in range(30)])
    seen: list[str] = []
    cursor = None
    while True:
        page = sink.search_runs(size, oldest_first=oldest_first, before=cursor)
        seen += ids(page)
        if len(page) < size:
            break
        cursor = next_run_cursor(page, oldest_first)
    assert sorted(seen) == [f"r{n:02d}" for n in range(30)]
    assert seen == ids(sink.search_runs(None, oldest_first=oldest_first))


@pytest.mark.parametrize(
    ("filters", "match"),
    [
        ({"kind": "robot"}, "kind: 'robot' is not one of"),
        ({"status": "weird"}, "status: 'weird' is not one of"),
        ({"conversation_id": 5}, "conversation_id: expected a string"),
        ({"model": "m" * 10_001}, "model: longer than"),
        ({"metadata": "a=b"}, "metadata: expected a mapping"),
        ({"metadata": {"k": [1]}}, "metadata: the value of 'k'"),
        ({"text": 3}, "text: expected a string"),
        ({"since": "yesterday"}, "since: expected a datetime"),
        ({"before": "abc.def"}, "before: not a cursor"),
        ({"limit": 0}, "limit: expected a whole number"),
        ({"colour": "red"}, "colour"),
    ],
    ids=str,
)
def test_bad_filters_raise_a_clear_value_error(
    store: Any, filters: dict[str, Any], match: str
) -> None:
    """A filter that cannot be used is a ValueError saying which (TypeError: an unknown one)."""
    with pytest.raises((ValueError, TypeError), match=match):
        store.search_runs(**filters)


def test_cursors_of_another_order_or_query_are_refused(store: Any) -> None:
    """A runs cursor of the other order, or a conversations cursor, is not a runs cursor."""
    newest = next_run_cursor(store.search_runs(2))
    assert ids(store.search_runs(2, before=newest)) == NEWEST[2:4]
    with pytest.raises(ValueError, match="before: not a cursor"):
        store.search_runs(2, oldest_first=True, before=newest)
    with pytest.raises(ValueError, match="before: not a cursor"):
        store.search_runs(2, before=next_cursor(store.conversations(1)))


def test_run_by_id(store: Any) -> None:
    """run() gives back the run as exported; an unknown id None; a bad one a ValueError."""
    [wanted] = [r for r in corpus() if r.run_id == "tool-05"]
    assert store.run("tool-05") == wanted
    assert store.run("nope") is None
    with pytest.raises(ValueError, match="run_id: expected a string"):
        store.run(7)


@pytest.mark.parametrize("oldest_first", [False, True])
@pytest.mark.parametrize("filters", [{}, {"kind": "tool"}, {"status": "error"}, {"model": "m"}])
def test_the_runs_search_reads_an_index_not_every_run(
    tmp_path: Any, oldest_first: bool, filters: dict[str, Any]
) -> None:
    """Newest (or oldest) first, from the top or from a cursor, SQLite walks the runs' index by
    start time: no scan of every run and no sort of them (bench_store.py times it at 1M runs)."""
    from convtrack import SQLiteSink
    from convtrack.sinks._run_search import runs_query

    sink = SQLiteSink(tmp_path / "s.db")
    sink.export([run(f"r{n:02d}", "c", at=n) for n in range(5)])
    cursor = next_run_cursor(sink.search_runs(2, oldest_first=oldest_first), oldest_first)
    for before in (None, cursor):
        sql, params = runs_query(50, oldest_first=oldest_first, before=before, **filters)
        plan = " ".join(row[3] for row in sink._conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
        assert "USING INDEX runs_by_start" in plan, plan
        assert "TEMP B-TREE FOR ORDER BY" not in plan, plan  # (only ties are sorted)
    sink.close()
