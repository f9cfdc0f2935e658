"""Starting runs: `start_run()` (None when not recording), `start_step()` for the hot paths,
the stand-in `NULL_RUN`, and `runs_of()`, the one factory of a `Run` from an ended handle."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextvars import Token
from typing import Any

from . import _config
from ._context import ReadOnlyMetadata, note_llm_conversation
from ._guard import report
from ._handle import _CURRENT_RUN, RunHandle
from ._resolve import Decision, inherited
from ._runs import Run, RunKind, set_end_ns, set_start_ns

_new = object.__new__
_set_dict = Run.__dict__["__dict__"].__set__  # the frozen __init__ costs ~20 setattr calls


class NullRun(RunHandle):
    """Stands in for a run when convtrack is not recording: false, and every method does nothing."""

    __slots__ = ()
    run_id = root_run_id = name = source = ""
    parent_run_id = conversation_id = user_id = agent_id = None
    kind = RunKind.FUNCTION
    grouping = "none"

    def __init__(self) -> None:
        self.decision = Decision(None, None, None, "none")

    def __bool__(self) -> bool:
        return False

    def set_input(self, value: Any) -> None:
        """Do nothing."""

    def set_output(self, value: Any) -> None:
        """Do nothing."""

    def set_usage(self, usage: Mapping[str, Any], *, model: str | None = None) -> None:
        """Do nothing."""

    def adopt(self, decision: Decision) -> None:
        """Do nothing."""

    def end(self, **_: Any) -> None:
        """Do nothing."""

    async def aend(self, **_: Any) -> None:
        """Do nothing."""

    def end_ok(self, outputs: Any = None) -> None:
        """Do nothing."""

    def release(self) -> None:
        """Do nothing."""

    def activate(self) -> Token[RunHandle | None]:
        """Leave the current run as it is (a token for `deactivate()` all the same)."""
        return _CURRENT_RUN.set(_CURRENT_RUN.get())


NULL_RUN = NullRun()


_FROM_CONTEXT: Any = object()


def start_run(
    kind: RunKind | str,
    name: str,
    *,
    source: str,
    decision: Decision | None = None,
    parent: RunHandle | None = _FROM_CONTEXT,
    inputs: Any = None,
    model: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    messages: Iterable[Any] | None = None,
    system: Any = None,
) -> RunHandle | None:
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
        messages: a chat call's request messages, remembered with its answer by `end()`.
        system: a separate system prompt (Anthropic), remembered as the first message.
    """
    if _config.current is None:
        return None
    if parent is _FROM_CONTEXT:
        parent = _CURRENT_RUN.get()
    if decision is None:
        decision = inherited(parent)
    meta = decision.metadata
    if metadata:
        meta = {**meta, **metadata} if meta else dict(metadata)
    run = RunHandle(
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
    if messages is not None:
        run._request = (messages if type(messages) is list else list(messages), system)
    if run.kind is RunKind.LLM and decision.conversation_id is not None:
        note_llm_conversation(decision.conversation_id)
    return run


def runs_of(ended: Iterable[RunHandle], capture_content: bool) -> list[Run]:
    """The frozen Runs of ended handles: the one way a `Run` is made from a handle.

    Each Run takes over its handle's `__dict__`, which holds every field but the times (no
    copy; see `RunHandle`); its times are kept as nanoseconds, made datetimes on first
    read (see `Run`); metadata is read-only; without `capture_content` inputs and outputs
    are dropped. Runs on the dispatcher thread.
    """
    runs = []
    for active in ended:
        fields = active.__dict__  # taken over as it is: an emitted handle never changes again
        if not capture_content:
            fields["inputs"] = fields["outputs"] = None
        metadata = fields["metadata"]
        if type(metadata) is not ReadOnlyMetadata:
            fields["metadata"] = ReadOnlyMetadata(metadata or {})
        run: Run = _new(Run)
        _set_dict(run, fields)
        set_start_ns(run, active._start_ns)
        set_end_ns(run, active._end_ns)
        runs.append(run)
    return runs


def build_runs(ended: list[RunHandle], capture_content: bool) -> list[Run]:
    """`runs_of()` for the dispatcher: a handle that cannot be made a Run is left out (the
    caller counts it), so one bad run does not cost the batch."""
    try:
        return runs_of(ended, capture_content)
    except Exception as exc:
        report("building runs", exc)
        runs = []
        for active in ended:
            try:
                runs.extend(runs_of([active], capture_content))
            except Exception:
                continue
        return runs


def start_step(
    kind: RunKind,
    name: str,
    source: str,
    parent: RunHandle | None,
    inputs: Any,
    metadata: Mapping[str, Any],
) -> RunHandle:
    """`start_run()` for a run carrying no id of its own (the hot path of trace steps and
    http requests): its conversation is its parent's, else the context's.

    For callers that checked the pipeline is configured.
    """
    return RunHandle(kind, name, source, parent, inherited(parent), inputs, None, metadata)
