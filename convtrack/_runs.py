"""Run (one observed piece of work), RunKind, and the run recorder integrations share."""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal

from uuid_utils import uuid7

from . import _pipeline
from ._context import EMPTY_METADATA
from ._resolve import Decision, Grouping, inherited

Status = Literal["ok", "error"]


class RunKind(str, enum.Enum):
    """What kind of work a run is."""

    LLM = "llm"
    CHAIN = "chain"
    TOOL = "tool"
    RETRIEVER = "retriever"
    HTTP = "http"
    FUNCTION = "function"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Run:
    """One finished piece of work (an LLM call, a chain, a tool, a request, a step).

    Runs are emitted once, when they end, to every configured sink.
    """

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

    if not TYPE_CHECKING:  # (a __getattr__ would make mypy accept any attribute name)

        def __getattr__(self, name: str) -> Any:
            # The pipeline builds Runs with their times as integer nanoseconds (`_start_ns`,
            # `_end_ns`) and makes each datetime on first read: a sink that never reads
            # them never pays for them. Every other attribute lookup fails as usual.
            ns_key = _NS_KEYS.get(name)
            if ns_key is not None:
                fields = self.__dict__
                ns = fields.get(ns_key)
                if ns is not None:
                    value = fields[name] = datetime_of_ns(ns)
                    return value
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


_NS_KEYS = {"started_at": "_start_ns", "ended_at": "_end_ns"}
_new = object.__new__
_set_dict = Run.__dict__["__dict__"].__set__  # the frozen __init__ costs ~20 setattr calls
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_time_ns = time.time_ns


def datetime_of_ns(ns: int) -> datetime:
    """The UTC datetime of `ns` nanoseconds since the epoch (exact to the microsecond)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def times_ns(run: Run) -> tuple[int, int]:
    """A run's start and end as nanoseconds since the epoch, without making datetimes.

    Exact for the runs the pipeline builds; from the datetimes (to the microsecond, naive
    read as UTC) for Runs made any other way.
    """
    fields = run.__dict__
    start, end = fields.get("_start_ns"), fields.get("_end_ns")
    if start is not None and end is not None:
        return start, end
    return _ns_of(run.started_at), _ns_of(run.ended_at)


def _ns_of(when: datetime) -> int:
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


class NullRun:
    """Stands in for a run when convtrack is not configured: every method does nothing."""

    __slots__ = ()
    run_id = None

    def set_input(self, value: Any) -> None:
        """Do nothing."""

    def set_output(self, value: Any) -> None:
        """Do nothing."""

    def set_usage(self, usage: Mapping[str, Any], *, model: str | None = None) -> None:
        """Do nothing."""


NULL_RUN = NullRun()


class ActiveRun:
    """A run being recorded: started now, emitted by `end()` (once).

    Integrations get one from `start_run()`; it also serves as the parent of runs
    started while it is current (`activate()`). Its attributes are the `Run`'s fields
    under their `Run` names (times as nanoseconds), and a field left at the `Run`'s
    default is not stored at all, so the frozen `Run` takes over the instance's `__dict__`
    on the dispatcher thread (no copy): ending a run costs the application little. Once
    emitted, the run no longer changes (its setters do nothing), so neither does the `Run`.
    """

    # `decision` lives in a slot, outside the `__dict__` that becomes the Run's
    __slots__ = ("__dict__", "decision")

    # the Run's defaults (read here until set on the instance)
    status: Status = "ok"
    error: str | None = None
    model: str | None = None
    inputs: Any = None
    outputs: Any = None
    usage: Mapping[str, Any] | None = None
    _end_ns = 0
    _held = False

    def __init__(
        self,
        kind: RunKind,
        name: str,
        source: str,
        parent: ActiveRun | None,
        decision: Decision,
        inputs: Any,
        model: str | None,
        metadata: Mapping[str, Any],
        run_id: str | None = None,
    ) -> None:
        # Always the same attributes in the same order (instances share one key table).
        self.run_id = run_id = str(uuid7()) if run_id is None else run_id
        if parent is None:
            self.parent_run_id: str | None = None
            self.root_run_id = run_id
        else:
            self.parent_run_id = parent.run_id
            self.root_run_id = parent.root_run_id
        self.kind = kind
        self.name = name
        self.source = source
        self.conversation_id, self.user_id, self.agent_id, self.grouping, _ = decision
        self.decision = decision
        self.metadata = metadata
        self._start_ns = _time_ns()
        if inputs is not None:
            self.inputs = inputs
        if model is not None:
            self.model = model

    def set_input(self, value: Any) -> None:
        """Record what went into the run (an LLM run: `{"messages": [...]}`)."""
        if self._emitted:
            return  # its Run is final
        self.inputs = value

    def set_output(self, value: Any) -> None:
        """Record what the run produced (used by `end()` unless it is given outputs)."""
        if self._emitted:
            return
        self.outputs = value

    def set_usage(self, usage: Mapping[str, Any], *, model: str | None = None) -> None:
        """Record token usage (e.g. `{"input_tokens": 12, "output_tokens": 30}`) and the model."""
        if self._emitted:
            return
        self.usage = usage
        if model is not None:
            self.model = model

    def adopt(self, decision: Decision) -> None:
        """Move this open run into a conversation decided after it started.

        For a tree whose conversation is only known once a later run decides it (a LangChain
        chain whose chat model is grouped automatically). User and agent are kept when set.
        """
        if self._emitted:
            return
        self.conversation_id = decision.conversation_id
        self.grouping = decision.grouping
        if self.user_id is None:
            self.user_id = decision.user_id
        if self.agent_id is None:
            self.agent_id = decision.agent_id
        self.decision = Decision(self.conversation_id, self.user_id, self.agent_id, self.grouping)

    def end(
        self,
        *,
        outputs: Any = None,
        error: BaseException | str | None = None,
        usage: Mapping[str, Any] | None = None,
        model: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        hold: bool = False,
    ) -> None:
        """Finish the run and emit it; later calls do nothing.

        With `hold`, the run is finished but kept back until `release()`, so that it can
        still `adopt()` a conversation decided after it ended.
        """
        if self._end_ns:
            return
        self._end_ns = _time_ns()
        if outputs is not None:
            self.outputs = outputs
        if error is not None:
            self.status = "error"
            self.error = error if isinstance(error, str) else format_error(error)
        if usage is not None:
            self.usage = usage
        if model is not None:
            self.model = model
        if metadata:
            self.metadata = {**self.metadata, **metadata}
        if hold:
            self._held = True
            return
        pipeline = _pipeline.current
        if pipeline is not None:
            pipeline.emit(self)

    def end_ok(self, outputs: Any = None) -> None:
        """`end(outputs=outputs)` for the hot paths (trace steps, http requests)."""
        if self._end_ns:
            return
        self._end_ns = _time_ns()
        if outputs is not None:
            self.outputs = outputs
        pipeline = _pipeline.current
        if pipeline is not None:
            pipeline.emit(self)

    def release(self) -> None:
        """Emit a run ended with `hold=True` (once; nothing for any other run)."""
        if not self._held:
            return
        del self._held  # back to the class default: the Run's fields hold no `_held`
        pipeline = _pipeline.current
        if pipeline is not None:
            pipeline.emit(self)

    @property
    def ended(self) -> bool:
        """Whether `end()` was called."""
        return self._end_ns != 0

    @property
    def _emitted(self) -> bool:
        """Ended and not held back: its Run shares these fields, so they must not change."""
        return self._end_ns != 0 and not self._held

    def activate(self) -> Token[ActiveRun | None]:
        """Make this run the parent of runs started from now on (pair with `deactivate`)."""
        return _CURRENT_RUN.set(self)

    @staticmethod
    def deactivate(token: Token[ActiveRun | None]) -> None:
        """Undo `activate()`."""
        _CURRENT_RUN.reset(token)


_CURRENT_RUN: ContextVar[ActiveRun | None] = ContextVar("convtrack.run", default=None)
current_run = _CURRENT_RUN.get
set_current_run = _CURRENT_RUN.set
reset_current_run = _CURRENT_RUN.reset


_FROM_CONTEXT: Any = object()


def start_run(
    kind: RunKind | str,
    name: str,
    *,
    source: str,
    decision: Decision | None = None,
    parent: ActiveRun | None = _FROM_CONTEXT,
    inputs: Any = None,
    model: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> ActiveRun | None:
    """Start recording a run; None when convtrack is not configured (nothing is built).

    Args:
        kind: what the run is (`RunKind` or its value).
        name: a short name (function, route, model call).
        source: the integration recording it (`"trace"`, `"asgi"`, `"openai"`, ...).
        decision: its conversation, from `_resolve.decide()`; default: parent, then context.
        parent: the parent run; default: the run current in this context.
        inputs: what went in (kept only with `capture_content`).
        model: the model, for LLM runs.
        metadata: extra key/values.
        run_id: keep an id the framework gave the run (e.g. LangChain's); default: uuid7.
    """
    if _pipeline.current is None:
        return None
    if parent is _FROM_CONTEXT:
        parent = _CURRENT_RUN.get()
    if decision is None:
        decision = inherited(parent)
    meta = decision.metadata
    if metadata:
        meta = {**meta, **metadata} if meta else dict(metadata)
    return ActiveRun(
        kind if type(kind) is RunKind else RunKind(kind),
        name,
        source,
        parent,
        decision,
        inputs,
        model,
        meta,
        run_id,
    )


def runs_of(ended: Iterable[ActiveRun], capture_content: bool) -> list[Run]:
    """The frozen Runs of emitted runs, each taking over its ActiveRun's fields (no copy).

    An emitted ActiveRun never changes again (see ActiveRun), so sharing is safe and saves
    the copy; without `capture_content` its inputs and outputs are dropped from both.
    """
    runs = []
    for active in ended:
        fields = active.__dict__
        if not capture_content:
            fields.pop("inputs", None)
            fields.pop("outputs", None)
        run: Run = _new(Run)
        _set_dict(run, fields)
        runs.append(run)
    return runs


def start_step(
    kind: RunKind,
    name: str,
    source: str,
    parent: ActiveRun | None,
    inputs: Any,
    metadata: Mapping[str, Any],
) -> ActiveRun:
    """`start_run()` for a run carrying no id of its own (the hot path of trace steps and
    http requests): its conversation is its parent's, else the context's.

    For callers that checked the pipeline is configured.
    """
    return ActiveRun(kind, name, source, parent, inherited(parent), inputs, None, metadata)
