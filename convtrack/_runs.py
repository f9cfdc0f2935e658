"""Run (one observed piece of work), RunKind, and the run recorder integrations share."""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

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


_new = object.__new__
_set_dict = Run.__dict__["__dict__"].__set__  # the frozen __init__ costs ~20 setattr calls
_UTC = timezone.utc
_from_ns = datetime.fromtimestamp


def _dt(ns: int) -> datetime:
    return _from_ns(ns / 1e9, _UTC)


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
    started while it is current (`activate()`). The frozen `Run` is built from it on
    the dispatcher thread, so ending a run costs the application little.
    """

    __slots__ = (
        "_ended_ns",
        "_error",
        "_held",
        "_outputs",
        "_started_ns",
        "_usage",
        "agent_id",
        "conversation_id",
        "grouping",
        "inputs",
        "kind",
        "metadata",
        "model",
        "name",
        "parent_run_id",
        "root_run_id",
        "run_id",
        "source",
        "user_id",
    )

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
        self.run_id = str(uuid7()) if run_id is None else run_id
        if parent is None:
            self.parent_run_id = None
            self.root_run_id = self.run_id
        else:
            self.parent_run_id = parent.run_id
            self.root_run_id = parent.root_run_id
        self.kind = kind
        self.name = name
        self.source = source
        self.conversation_id, self.user_id, self.agent_id, self.grouping, _ = decision
        self.inputs = inputs
        self.model = model
        self.metadata = metadata
        self._outputs: Any = None
        self._usage: Mapping[str, Any] | None = None
        self._error: str | None = None
        self._ended_ns = 0
        self._held = False
        self._started_ns = time.time_ns()

    def set_input(self, value: Any) -> None:
        """Record what went into the run (an LLM run: `{"messages": [...]}`)."""
        self.inputs = value

    def set_output(self, value: Any) -> None:
        """Record what the run produced (used by `end()` unless it is given outputs)."""
        self._outputs = value

    def set_usage(self, usage: Mapping[str, Any], *, model: str | None = None) -> None:
        """Record token usage (e.g. `{"input_tokens": 12, "output_tokens": 30}`) and the model."""
        self._usage = usage
        if model is not None:
            self.model = model

    def adopt(self, decision: Decision) -> None:
        """Move this open run into a conversation decided after it started.

        For a tree whose conversation is only known once a later run decides it (a LangChain
        chain whose chat model is grouped automatically). User and agent are kept when set.
        """
        if self._ended_ns and not self._held:
            return  # emitted already
        self.conversation_id = decision.conversation_id
        self.grouping = decision.grouping
        if self.user_id is None:
            self.user_id = decision.user_id
        if self.agent_id is None:
            self.agent_id = decision.agent_id

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
        if self._ended_ns:
            return
        self._ended_ns = time.time_ns()
        if outputs is not None:
            self._outputs = outputs
        if error is not None:
            self._error = error if isinstance(error, str) else format_error(error)
        if usage is not None:
            self._usage = usage
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

    def release(self) -> None:
        """Emit a run ended with `hold=True` (once; nothing for any other run)."""
        if not self._held:
            return
        self._held = False
        pipeline = _pipeline.current
        if pipeline is not None:
            pipeline.emit(self)

    @property
    def ended(self) -> bool:
        """Whether `end()` was called."""
        return self._ended_ns != 0

    def to_run(self, capture_content: bool) -> Run:
        """The frozen Run of this ended run (built on the dispatcher thread)."""
        run: Run = _new(Run)
        error = self._error
        _set_dict(
            run,
            {
                "run_id": self.run_id,
                "parent_run_id": self.parent_run_id,
                "root_run_id": self.root_run_id,
                "conversation_id": self.conversation_id,
                "user_id": self.user_id,
                "agent_id": self.agent_id,
                "kind": self.kind,
                "name": self.name,
                "source": self.source,
                "grouping": self.grouping,
                "started_at": _dt(self._started_ns),
                "ended_at": _dt(self._ended_ns),
                "status": "ok" if error is None else "error",
                "error": error,
                "model": self.model,
                "inputs": self.inputs if capture_content else None,
                "outputs": self._outputs if capture_content else None,
                "usage": self._usage,
                "metadata": self.metadata,
            },
        )
        return run

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
