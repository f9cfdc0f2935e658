"""Each task execution inside its conversation, with its run: a wrapper of Celery's tracer.

Celery runs every execution (worker and eager alike) through the function
`celery.app.trace.build_tracer` returns; wrapping that function costs one call, where the
`task_prerun`/`task_postrun` signals cost two signal dispatches per execution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextvars import Token
from typing import Any

from convtrack.instrumentation import (
    NULL_RUN,
    Conversation,
    RunHandle,
    RunKind,
    attach,
    current_run,
    detach,
    is_recording,
    report,
    start_run,
)
from convtrack.instrumentation.streams import Switch

from ._message import HEADER, incoming

SOURCE = "celery"
SUCCESS, FAILURE, RETRY = "SUCCESS", "FAILURE", "RETRY"  # celery.states

# On while instrumented: tracers built meanwhile pass straight through once it is off.
switch = Switch()
# task id -> the headers of its executions in progress (a retry is sent with the same one)
sent_with: dict[str, list[Any]] = {}

Tracer = Callable[..., Any]
_OURS = "_convtrack_celery"  # set on the tracers convtrack-celery returns


def build_tracer(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """wrapt wrapper of `celery.app.trace.build_tracer(name, task, ...)`: the tracer it
    returns runs each execution of the task inside its conversation, as a run."""
    tracer = wrapped(*args, **kwargs)
    try:
        task = args[1] if len(args) > 1 else kwargs["task"]
        return _traced(tracer, task.name)
    except Exception as exc:
        report("celery (wrapping a task's tracer)", exc)
        return tracer


def wrap_built(tasks: Iterable[Any]) -> None:
    """Wrap the tracers `tasks` have built already (a worker started before `instrument()`)."""
    for task in tasks:
        built = getattr(task, "__trace__", None)
        if built is not None and not getattr(built, _OURS, False):
            task.__trace__ = _traced(built, task.name)


def _traced(tracer: Tracer, name: str) -> Tracer:
    def trace_task(uuid: str, args: Any, kwargs: Any, request: Any = None) -> Any:
        if not switch.on:
            return tracer(uuid, args, kwargs, request)
        execution = _begin(name, uuid, request)
        try:
            traced = tracer(uuid, args, kwargs, request)
        except BaseException as exc:  # an eager task whose errors propagate
            _end(execution, FAILURE, exc)
            raise
        _end(execution, *_outcome(traced))
        return traced

    setattr(trace_task, _OURS, True)
    return trace_task


class _Execution:
    """One execution in progress: its run and what to undo when it ends."""

    __slots__ = ("conversation_token", "run", "run_token", "task_id")

    def __init__(
        self,
        task_id: str | None,
        run: RunHandle,
        conversation_token: Token[Conversation | None] | None,
        run_token: Token[RunHandle | None] | None,
    ) -> None:
        self.task_id = task_id  # set when registered in `sent_with`
        self.run = run
        self.conversation_token = conversation_token
        self.run_token = run_token


_NOTHING = _Execution(None, NULL_RUN, None, None)


def _begin(name: str, uuid: str, request: Any) -> _Execution:
    """Enter the execution's conversation and start its run."""
    try:
        get = request.get if request else {}.get  # the request: a dict (message headers)
        raw = get(HEADER)
        sent = None if raw is None else incoming(raw)
        eager = get("is_eager")
        token = None
        if sent is not None:
            token = attach(sent.conversation)
        elif not eager:
            token = attach(None)  # sent outside any conversation: runs outside one
        run: RunHandle = NULL_RUN
        run_token = None
        if is_recording():
            metadata = {"celery": True, "task_id": uuid, "retries": get("retries") or 0}
            parent = current_run() if eager else None  # an eager task runs inside its caller
            run = start_run(RunKind.TASK, name, source=SOURCE, metadata=metadata, parent=parent)
            if run:
                if sent is not None and sent.root_run_id is not None:
                    run.parent_run_id, run.root_run_id = sent.parent_run_id, sent.root_run_id
                run_token = run.activate()
        registered = None
        if sent is not None:
            sent_with.setdefault(uuid, []).append(raw)
            registered = uuid
        return _Execution(registered, run, token, run_token)
    except Exception as exc:
        report("celery (starting a task)", exc)
        return _NOTHING


def _outcome(traced: Any) -> tuple[str, BaseException | str | None]:
    """(state, error) of an execution from what Celery's tracer returned."""
    info = getattr(traced, "info", None)  # None when the task succeeded
    if info is None:
        return SUCCESS, None
    state, retval = info.state, info.retval
    if state == RETRY:  # a celery Retry holds the error it retries
        cause = getattr(retval, "exc", None)
        if isinstance(cause, BaseException):
            return state, cause
        return state, retval if isinstance(retval, BaseException) else f"retry: {retval}"
    if state == FAILURE and isinstance(retval, BaseException):
        return state, retval
    return state, f"task ended in state {state}"


def _end(execution: _Execution, state: str, error: BaseException | str | None) -> None:
    """End the execution's run (state, error) and leave its conversation."""
    try:
        if execution.run:
            execution.run.end(error=error, metadata={"state": state})
    except Exception as exc:
        report("celery (ending a task's run)", exc)
    try:
        if execution.run_token is not None:
            RunHandle.deactivate(execution.run_token)
        if execution.conversation_token is not None:
            detach(execution.conversation_token)
        if execution.task_id is not None:
            _unregister(execution.task_id)
    except Exception as exc:
        report("celery (leaving a task's conversation)", exc)


def _unregister(task_id: str) -> None:
    headers = sent_with.get(task_id)
    if headers:
        headers.pop()
        if not headers:
            del sent_with[task_id]
