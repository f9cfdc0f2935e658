"""Celery signal handlers: tag the messages sent, flush the runs when a worker stops."""

from __future__ import annotations

from typing import Any

import convtrack
from convtrack.instrumentation import is_recording, report

from ._execution import sent_with
from ._message import HEADER, outgoing

# How long a stopping worker waits for its runs to reach the sinks (seconds).
SHUTDOWN_FLUSH_TIMEOUT = 5.0


def before_task_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Put the conversation in the message headers of a task sent inside one.

    A retry (the task re-sending itself) keeps the header of the execution it retries, so
    every execution nests under the run that first sent the task.
    """
    try:
        if headers is None or HEADER in headers:
            return
        task_id = headers.get("id")
        running = sent_with.get(task_id) if isinstance(task_id, str) else None
        value = running[-1] if running else outgoing()
        if value is not None:
            headers[HEADER] = value
    except Exception as exc:
        report("celery (tagging a task message)", exc)


def worker_shutdown(**_: Any) -> None:
    """Flush the runs waiting before a worker (process) stops."""
    if is_recording():
        try:
            convtrack.flush(SHUTDOWN_FLUSH_TIMEOUT)
        except Exception as exc:
            report("celery (flushing at worker shutdown)", exc)
