"""Celery signal handlers: tag the messages sent, run each execution inside its conversation."""

from __future__ import annotations

from contextvars import Token
from typing import Any

import convtrack
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

from ._message import HEADER, incoming, outgoing

SOURCE = "celery"
_FUNCTION = RunKind.FUNCTION  # Celery tasks: RunKind has no `task` kind (yet)
# How long a stopping worker waits for its runs to reach the sinks (seconds).
SHUTDOWN_FLUSH_TIMEOUT = 5.0


class _Execution:
    """One task execution in progress: its run, what to undo when it ends, and the header it
    was sent with (a retry is sent with it too)."""

    __slots__ = ("conversation_token", "error", "header", "run", "run_token")

    def __init__(
        self,
        run: RunHandle,
        conversation_token: Token[Conversation | None] | None,
        run_token: Token[RunHandle | None] | None,
        header: Any,
    ) -> None:
        self.run = run
        self.conversation_token = conversation_token
        self.run_token = run_token
        self.header = header
        self.error: BaseException | str | None = None


# task id -> its executions in progress (an eager retry runs inside the execution it retries)
_executions: dict[str, list[_Execution]] = {}


def before_task_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Put the conversation in the message headers of a task sent inside one.

    A retry (the task re-sending itself) keeps the header of the execution it retries, so
    every execution nests under the run that first sent the task.
    """
    try:
        if headers is None or HEADER in headers:
            return
        task_id = headers.get("id")
        running = _executions.get(task_id) if isinstance(task_id, str) else None
        value = running[-1].header if running else None
        if value is None:
            value = outgoing()
        if value is not None:
            headers[HEADER] = value
    except Exception as exc:
        report("celery (tagging a task message)", exc)


def task_prerun(task_id: str = "", task: Any = None, **_: Any) -> None:
    """Enter the task's conversation and start its run (one per execution)."""
    try:
        request = task.request
        raw = request.get(HEADER)
        sent = None if raw is None else incoming(raw)
        eager = request.is_eager
        token = None
        if sent is not None:
            token = attach(sent.conversation)
        elif not eager:
            token = attach(None)  # sent outside any conversation: runs outside one
        run: RunHandle = NULL_RUN
        run_token = None
        if is_recording():
            metadata = {"celery": True, "task_id": task_id, "retries": request.retries or 0}
            parent = current_run() if eager else None  # an eager task runs inside its caller
            run = start_run(_FUNCTION, task.name, source=SOURCE, metadata=metadata, parent=parent)
            if run:
                if sent is not None and sent.root_run_id is not None:
                    run.parent_run_id, run.root_run_id = sent.parent_run_id, sent.root_run_id
                run_token = run.activate()
        execution = _Execution(run, token, run_token, raw if sent is not None else None)
        running = _executions.get(task_id)
        if running is None:
            _executions[task_id] = [execution]
        else:
            running.append(execution)
    except Exception as exc:
        report("celery (starting a task)", exc)


def task_failure(task_id: str = "", exception: BaseException | None = None, **_: Any) -> None:
    """Remember why the execution failed (its run ends in `task_postrun`)."""
    running = _executions.get(task_id)
    if running and exception is not None:
        running[-1].error = exception


def task_retry(request: Any = None, reason: Any = None, **_: Any) -> None:
    """Remember that the execution asked for a retry, and why (the error it retries)."""
    running = _executions.get(getattr(request, "id", None) or "")
    if running:
        cause = getattr(reason, "exc", None)  # a celery Retry holds the error it retries
        if not isinstance(cause, BaseException):
            cause = reason if isinstance(reason, BaseException) else f"retry: {reason}"
        running[-1].error = cause


def task_postrun(task_id: str = "", state: str | None = None, **_: Any) -> None:
    """End the execution's run (state, error) and leave its conversation."""
    running = _executions.get(task_id)
    if not running:
        return
    execution = running.pop()
    if not running:
        del _executions[task_id]
    try:
        if execution.run:
            error = execution.error
            if error is None and state not in (None, "SUCCESS"):
                error = f"task ended in state {state}"
            execution.run.end(error=error, metadata={"state": state})
    except Exception as exc:
        report("celery (ending a task's run)", exc)
    finally:
        if execution.run_token is not None:
            RunHandle.deactivate(execution.run_token)
        if execution.conversation_token is not None:
            detach(execution.conversation_token)


def worker_shutdown(**_: Any) -> None:
    """Flush the runs waiting before a worker (process) stops."""
    if is_recording():
        try:
            convtrack.flush(SHUTDOWN_FLUSH_TIMEOUT)
        except Exception as exc:
            report("celery (flushing at worker shutdown)", exc)
