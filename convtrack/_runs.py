"""Run: the record of one finished piece of work, its kinds, and the rules read off runs."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal

from ._context import EMPTY_METADATA
from ._resolve import Grouping

Status = Literal["ok", "error"]


class RunKind(str, enum.Enum):
    """What kind of work a run is."""

    LLM = "llm"
    CHAIN = "chain"
    TOOL = "tool"
    RETRIEVER = "retriever"
    HTTP = "http"
    TASK = "task"  # one execution of a task-queue task (Celery)
    FUNCTION = "function"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Run:
    """One finished piece of work (an LLM call, a chain, a tool, a request, a step).

    Runs are emitted once, when they end, to every configured sink.
    """

    # A recorded Run keeps its times as nanoseconds here and makes `started_at`/`ended_at` on
    # first read: making both datetimes costs ~15k instructions, which doubled a traced
    # call's cost (bench_context_instructions.py); a sink that never reads them never pays.
    __slots__ = ("__dict__", "_end_ns", "_start_ns")

    run_id: str
    parent_run_id: str | None
    root_run_id: str
    conversation_id: str | None
    user_id: str | None
    agent_id: str | None
    kind: RunKind
    name: str
    source: str
    grouping: Grouping
    started_at: datetime
    ended_at: datetime
    status: Status = "ok"
    error: str | None = None
    model: str | None = None
    inputs: Any = None
    outputs: Any = None
    usage: Mapping[str, Any] | None = None
    metadata: Mapping[str, Any] = field(default_factory=lambda: EMPTY_METADATA, hash=False)

    @property
    def duration_ms(self) -> float:
        """Wall time from start to end, in milliseconds."""
        return (self.ended_at - self.started_at).total_seconds() * 1000.0

    def __reduce__(self) -> tuple[Any, ...]:
        # pickle and copy rebuild it from its fields (its slots are not fields)
        return (type(self), tuple(getattr(self, f.name) for f in fields(self)))


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def datetime_of_ns(ns: int) -> datetime:
    """The UTC datetime of `ns` nanoseconds since the epoch (exact to the microsecond)."""
    seconds, micros = divmod(ns // 1000, 1_000_000)
    return _EPOCH + timedelta(0, seconds, micros)  # positional: ~25% cheaper than by keyword


class _LazyTime:
    """`started_at` or `ended_at` of a recorded Run: made from its nanoseconds on first read,
    then kept in its `__dict__`. A descriptor without `__set__`, so the `__dict__` of a Run
    made with datetimes wins, and no `__getattr__` on Run: with one, every attribute read of a
    Run took the slow path (5x a plain read; bench_store.py reads dozens a run)."""

    def __init__(self, name: str, slot: Any) -> None:
        self._name = name
        self._ns = slot.__get__

    def __get__(self, run: Run | None, owner: type | None = None) -> Any:
        if run is None:
            return self
        try:
            ns = self._ns(run)
        except AttributeError:
            raise AttributeError(f"'Run' object has no attribute {self._name!r}") from None
        value = run.__dict__[self._name] = datetime_of_ns(ns)
        return value


_slot = Run.__dict__
set_start_ns = _slot["_start_ns"].__set__  # (`runs_of` sets them: the Run is frozen)
set_end_ns = _slot["_end_ns"].__set__
_get_start_ns = _slot["_start_ns"].__get__
_get_end_ns = _slot["_end_ns"].__get__
if not TYPE_CHECKING:  # (mypy keeps the fields' declared types)
    Run.started_at = _LazyTime("started_at", _slot["_start_ns"])
    Run.ended_at = _LazyTime("ended_at", _slot["_end_ns"])


def times_ns(run: Run) -> tuple[int, int]:
    """A run's start and end as nanoseconds since the epoch, without making datetimes.

    Exact for the runs the pipeline records; from the datetimes (to the microsecond, naive
    read as UTC) for Runs made any other way.
    """
    try:
        return _get_start_ns(run), _get_end_ns(run)
    except AttributeError:
        return ns_of(run.started_at), ns_of(run.ended_at)


def ns_of(when: datetime) -> int:
    """Nanoseconds since the epoch, exact to the microsecond a datetime holds (naive = UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return (when - _EPOCH) // _MICROSECOND * 1000


_MICROSECOND = timedelta(microseconds=1)


def nested_llm_run_ids(runs: Iterable[Run]) -> set[str]:
    """The LLM runs made inside another LLM run: the same model call as their parent.

    A LangChain chat model calling an instrumented SDK, or a traced `llm` step around one,
    records the call twice, outer and inner; counting model calls and tokens, and showing a
    transcript, takes the outer run only (its inner one for the tokens it lacks).
    """
    runs = list(runs)
    llm_ids = {run.run_id for run in runs if run.kind is RunKind.LLM}
    return {run.run_id for run in runs if run.kind is RunKind.LLM and run.parent_run_id in llm_ids}


def format_error(exc: BaseException) -> str:
    """How a run records an exception: `TypeName: message`."""
    text = str(exc)
    name = type(exc).__qualname__
    return f"{name}: {text}" if text else name
