"""convtrack-celery with a real worker and broker: a task runs in its sender's conversation."""

from __future__ import annotations

import celery_tasks
import convtrack_celery
import pytest
from celery_support import Worker, worker_runs

import convtrack

TIMEOUT = 30


@convtrack.trace()
def send(task: object, *args: object) -> object:
    """A traced step that sends a task (the run the task's runs nest under)."""
    return task.delay(*args)  # type: ignore[attr-defined]


def test_task_runs_in_the_conversation_it_was_sent_from(
    worker: Worker, memory_sink: convtrack.MemorySink
) -> None:
    """Id, user, agent and metadata travel; the task's run nests under the sending run."""
    with convtrack.conversation("chat-c1", user_id="alice", agent_id="support", metadata={"n": 1}):
        result = send(celery_tasks.record, "a")
    assert result.get(timeout=TIMEOUT) == {  # type: ignore[attr-defined]
        "conversation_id": "chat-c1",
        "user_id": "alice",
        "agent_id": "support",
        "metadata": {"n": 1},
    }
    convtrack.flush()
    (sender,) = memory_sink.runs
    task_run, inner = worker_runs(worker.db, result.id, 1)  # type: ignore[attr-defined]
    assert task_run.name == "tests.record"
    assert str(task_run.kind) == "task"
    assert task_run.source == "celery"
    assert dict(task_run.metadata) == {
        "celery": True,
        "task_id": result.id,  # type: ignore[attr-defined]
        "retries": 0,
        "state": "SUCCESS",
    }
    assert (task_run.parent_run_id, task_run.root_run_id) == (sender.run_id, sender.root_run_id)
    assert (task_run.conversation_id, task_run.user_id, task_run.agent_id) == (
        "chat-c1",
        "alice",
        "support",
    )
    assert task_run.status == "ok"
    assert inner.name == "step"
    assert inner.parent_run_id == task_run.run_id
    assert inner.conversation_id == "chat-c1"


def test_a_task_sent_outside_any_conversation_runs_outside_one(worker: Worker) -> None:
    """No conversation when sent: none in the worker, and its run has none."""
    result = celery_tasks.record.delay("b")
    assert result.get(timeout=TIMEOUT) == {"conversation_id": None}
    task_run, _ = worker_runs(worker.db, result.id, 1)
    assert task_run.conversation_id is None
    assert task_run.parent_run_id is None


def test_retries_keep_the_conversation(worker: Worker, memory_sink: convtrack.MemorySink) -> None:
    """Each execution of a retried task has its run, all under the sender, all in its chat."""
    with convtrack.conversation("chat-c3"):
        result = send(celery_tasks.flaky, 2)
    answer = result.get(timeout=TIMEOUT)  # type: ignore[attr-defined]
    assert (answer["conversation_id"], answer["retries"]) == ("chat-c3", 2)
    convtrack.flush()
    (sender,) = memory_sink.runs
    runs = worker_runs(worker.db, result.id, 3)  # type: ignore[attr-defined]
    assert [r.metadata["retries"] for r in runs] == [0, 1, 2]
    assert [r.metadata["state"] for r in runs] == ["RETRY", "RETRY", "SUCCESS"]
    assert [r.status for r in runs] == ["error", "error", "ok"]
    assert runs[0].error == "RuntimeError: flaky 0"
    assert {r.conversation_id for r in runs} == {"chat-c3"}
    assert {r.parent_run_id for r in runs} == {sender.run_id}


def test_a_failing_task_records_its_error(worker: Worker) -> None:
    """The task's exception reaches the caller unchanged; its run records it."""
    with convtrack.conversation("chat-c4"):
        result = celery_tasks.fail.delay()
    with pytest.raises(ValueError, match="the task failed"):
        result.get(timeout=TIMEOUT)
    (task_run,) = worker_runs(worker.db, result.id, 1)
    assert (task_run.status, task_run.error) == ("error", "ValueError: the task failed")
    assert task_run.metadata["state"] == "FAILURE"
    assert task_run.conversation_id == "chat-c4"


def test_an_uninstrumented_sender_sends_no_conversation(worker: Worker) -> None:
    """With convtrack-celery off in the sender, the task runs outside any conversation."""
    convtrack_celery.uninstrument()
    with convtrack.conversation("chat-c5"):
        result = celery_tasks.record.delay("c")
    assert result.get(timeout=TIMEOUT) == {"conversation_id": None}


def test_a_hostile_header_is_ignored(worker: Worker) -> None:
    """A header the sender set itself is kept; an id with CRLF in it is not entered."""
    header = {"conversation_id": "chat\r\nx-injected: 1", "user_id": "alice"}
    with convtrack.conversation("chat-c6"):
        result = celery_tasks.record.apply_async(("d",), headers={"convtrack": header})
    assert result.get(timeout=TIMEOUT) == {"conversation_id": None}
    task_run, _ = worker_runs(worker.db, result.id, 1)
    assert task_run.conversation_id is None
