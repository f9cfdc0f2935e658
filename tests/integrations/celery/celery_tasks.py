"""The Celery app and tasks of the convtrack-celery tests (imported by the worker too).

Configured from the environment: CONVTRACK_TEST_BROKER (a Redis URL) and, in the worker,
CONVTRACK_TEST_DB (the SQLite store its runs go to).
"""

from __future__ import annotations

import os
from typing import Any

import convtrack_celery
from celery import Celery, Task

import convtrack

BROKER = os.environ.get("CONVTRACK_TEST_BROKER", "redis://127.0.0.1:1/0")
app = Celery("convtrack_test", broker=BROKER, backend=BROKER)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


def seen() -> dict[str, Any]:
    """What the task sees of the current conversation."""
    conv = convtrack.current()
    if conv is None:
        return {"conversation_id": None}
    return {
        "conversation_id": conv.conversation_id,
        "user_id": conv.user_id,
        "agent_id": conv.agent_id,
        "metadata": dict(conv.metadata),
    }


@convtrack.trace()
def step(label: str) -> str:
    """A traced step inside a task: nests under the task's run."""
    return f"step {label}"


@app.task(name="tests.record")
def record(label: str) -> dict[str, Any]:
    """Report the conversation the task runs in, after a traced step."""
    step(label)
    return seen()


@app.task(name="tests.flaky", bind=True, max_retries=3)
def flaky(self: Task[Any, Any], times: int) -> dict[str, Any]:
    """Fail (and retry at once) `times` times, then report the conversation."""
    if self.request.retries < times:
        raise self.retry(exc=RuntimeError(f"flaky {self.request.retries}"), countdown=0)
    return {**seen(), "retries": self.request.retries}


@app.task(name="tests.fail")
def fail() -> None:
    """Raise an error of the user's."""
    raise ValueError("the task failed")


if os.environ.get("CONVTRACK_TEST_DB"):  # the worker: it records into the test's SQLite store
    convtrack.configure(
        [convtrack.SQLiteSink(os.environ["CONVTRACK_TEST_DB"])],
        grouping=False,
        export_interval=0.05,
    )
    convtrack_celery.instrument()
