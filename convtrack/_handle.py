"""RunHandle: a run being recorded, made current so that children nest, then emitted once.

`start_run()` starts one (None when convtrack is not configured: nothing is built), the
handle records what the run took in and gave back, and `end()` hands it to the pipeline,
whose dispatcher turns it into a frozen `Run` with `runs_of()`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextvars import ContextVar, Token
from typing import Any

from uuid_utils import uuid7

from . import _config
from ._resolve import Decision, aremember, remember
from ._runs import RunKind, Status, format_error

_time_ns = time.time_ns


class RunHandle:
    """A run being recorded: started now, emitted by `end()` (once).

    Integrations get one from `start_run()`; it also serves as the parent of runs
    started while it is current (`activate()`). Its attributes are the `Run`'s fields
    under their `Run` names (times as nanoseconds), every one stored from the start, so the
    frozen `Run` takes over the instance's `__dict__` on the dispatcher thread as it is (no
    copy, nothing to complete): ending a run costs the application little. Once
    emitted, the run no longer changes (its setters do nothing), so neither does the `Run`.
    """

    # these live in slots, outside the `__dict__` that becomes the Run's: the decision, and
    # for a chat call started with its messages, (messages, system) to remember at the end
    __slots__ = ("__dict__", "_end_ns", "_held", "_request", "_start_ns", "decision")
    _request: tuple[list[Any], Any]

    # the Run's defaults (what the stand-in NULL_RUN reads; a handle stores its own)
    status: Status = "ok"
    error: str | None = None
    model: str | None = None
    inputs: Any = None
    outputs: Any = None
    usage: Mapping[str, Any] | None = None

    def __init__(
        self,
        kind: RunKind,
        name: str,
        source: str,
        parent: RunHandle | None,
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
        self.status = "ok"
        self.error = None
        self.model = model
        self.inputs = inputs
        self.outputs = None
        self.usage = None
        self._start_ns = _time_ns()
        self._end_ns = 0
        self._held = False

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
        answer: Any = None,
    ) -> None:
        """Finish the run and emit it; later calls do nothing.

        Args:
            outputs: what the run produced (default: what `set_output()` recorded).
            error: the exception (or a message) the run failed with.
            usage: token usage; model: the model that answered.
            metadata: key/values added to the run's.
            hold: finish the run but keep it back until `release()`, so that it can still
                `adopt()` a conversation decided after it ended.
            answer: for a chat run started with `messages`: the answer message (or the list
                of messages it appends); it is the run's output unless `outputs` is given,
                and, the call being grouped automatically, the history request + answer is
                remembered so that the next turn finds this conversation.
        """
        if self._end_ns:
            return
        self._end_ns = _time_ns()
        if outputs is not None:
            self.outputs = outputs
        elif answer is not None:
            self.outputs = answer
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
        else:
            self._emit()
        if answer is not None and error is None:
            history = self._history(answer)
            if history is not None:
                remember(self.decision, history[0], system=history[1])

    async def aend(
        self,
        *,
        outputs: Any = None,
        error: BaseException | str | None = None,
        usage: Mapping[str, Any] | None = None,
        model: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        answer: Any = None,
    ) -> None:
        """`end()` for async code: an async grouping store is awaited, not blocked on."""
        if self.ended:
            return
        self.end(
            outputs=answer if outputs is None else outputs,
            error=error,
            usage=usage,
            model=model,
            metadata=metadata,
        )
        history = None if answer is None or error is not None else self._history(answer)
        if history is not None:
            await aremember(self.decision, history[0], system=history[1])

    def _history(self, answer: Any) -> tuple[list[Any], Any] | None:
        """(request messages + answer, system) for a run started with messages, else None."""
        try:
            messages, system = self._request
        except AttributeError:
            return None
        tail = list(answer) if isinstance(answer, (list, tuple)) else [answer]
        return [*messages, *tail], system

    def end_ok(self, outputs: Any = None) -> None:
        """`end(outputs=outputs)` for the hot paths (trace steps, http requests)."""
        if self._end_ns:
            return
        self._end_ns = _time_ns()
        if outputs is not None:
            self.outputs = outputs
        self._emit()

    def release(self) -> None:
        """Emit a run ended with `hold=True` (once; nothing for any other run)."""
        if not self._held:
            return
        self._held = False
        self._emit()

    def _emit(self) -> None:
        """Hand the ended run to the pipeline (when one is configured)."""
        recorder = _config.current
        if recorder is not None:
            recorder.emit(self)

    def __bool__(self) -> bool:
        """True: a run being recorded (the stand-in `NULL_RUN` is false)."""
        return True

    @property
    def ended(self) -> bool:
        """Whether `end()` was called."""
        return self._end_ns != 0

    @property
    def _emitted(self) -> bool:
        """Ended and not held back: its Run shares these fields, so they must not change."""
        return self._end_ns != 0 and not self._held

    def activate(self) -> Token[RunHandle | None]:
        """Make this run the parent of runs started from now on (pair with `deactivate`)."""
        return _CURRENT_RUN.set(self)

    @staticmethod
    def deactivate(token: Token[RunHandle | None]) -> None:
        """Undo `activate()`."""
        _CURRENT_RUN.reset(token)


_CURRENT_RUN: ContextVar[RunHandle | None] = ContextVar("convtrack.run", default=None)
current_run = _CURRENT_RUN.get
set_current_run = _CURRENT_RUN.set
reset_current_run = _CURRENT_RUN.reset
