"""The Celery side of the services example: a task the agent service queues.

Run by `run.py` as `celery -A tasks worker`; its runs go to the example's SQLite store.
"""

from __future__ import annotations

import os

import convtrack_celery
from celery import Celery
from celery.signals import worker_init

import convtrack

BROKER = os.environ.get("SERVICES_BROKER", "redis://127.0.0.1:6379/0")
app = Celery("services", broker=BROKER, backend=BROKER)
app.conf.update(broker_connection_retry_on_startup=True, worker_hijack_root_logger=False)

convtrack_celery.instrument()  # both sides: the agent service sends, the worker runs


@worker_init.connect
def record_runs(**_: object) -> None:
    """In the worker: record into the example's store (the agent configures its own)."""
    convtrack.configure([convtrack.SQLiteSink(os.environ.get("SERVICES_DB", "convtrack.db"))])


@convtrack.trace(kind="tool")
def count_words(text: str) -> int:
    """The task's work, traced: nests under the task's run."""
    return len(text.split())


@app.task(name="services.summarize")
def summarize(text: str) -> dict[str, object]:
    """A slow tool handed to a worker: runs in the conversation it was queued from."""
    return {"words": count_words(text), "conversation_id": convtrack.get_conversation_id()}
