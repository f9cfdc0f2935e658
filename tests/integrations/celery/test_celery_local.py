"""convtrack-celery in one process: eager tasks, a broker that is down, instrumentation on/off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import celery_tasks
import convtrack_celery
import pytest
from celery import Celery
from celery_support import free_port_url

import convtrack
from convtrack.instrumentation import current_conversation


@pytest.fixture
def eager() -> Iterator[None]:
    """celery_tasks run eagerly (in the sending process) for the test."""
    celery_tasks.app.conf.task_always_eager = True
    yield
    celery_tasks.app.conf.task_always_eager = False


def test_an_eager_task_nests_under_the_current_run(
    eager: None, memory_sink: convtrack.MemorySink
) -> None:
    """An eager task runs in the caller's conversation, its run under the caller's run."""

    @convtrack.trace()
    def caller() -> Any:
        return celery_tasks.record.delay("e").get()

    with convtrack.conversation("chat-e1", user_id="bob"):
        seen = caller()
    assert (seen["conversation_id"], seen["user_id"]) == ("chat-e1", "bob")
    convtrack.flush()
    by_name = {run.name.rpartition(".")[2]: run for run in memory_sink.runs}
    task_run = by_name["record"]
    assert task_run.parent_run_id == by_name["caller"].run_id
    assert by_name["step"].parent_run_id == task_run.run_id
    assert task_run.metadata["state"] == "SUCCESS"
    assert current_conversation() is None


def test_an_eager_retry_keeps_the_conversation(
    eager: None, memory_sink: convtrack.MemorySink
) -> None:
    """Eager retries run inside the execution they retry, in the same conversation."""
    with convtrack.conversation("chat-e2"):
        seen = celery_tasks.flaky.apply(args=(1,)).get()
    assert (seen["conversation_id"], seen["retries"]) == ("chat-e2", 1)
    convtrack.flush()
    runs = [run for run in memory_sink.runs if run.name == "tests.flaky"]
    assert sorted(run.metadata["retries"] for run in runs) == [0, 1]
    assert {run.conversation_id for run in runs} == {"chat-e2"}


def test_an_eager_failure_passes_through_unchanged(
    eager: None, memory_sink: convtrack.MemorySink
) -> None:
    """The task's own exception reaches the caller as it is; the run records it."""
    with convtrack.conversation("chat-e3"), pytest.raises(ValueError, match="the task failed"):
        celery_tasks.fail.delay().get()
    convtrack.flush()
    (run,) = memory_sink.runs
    assert (run.status, run.error) == ("error", "ValueError: the task failed")
    assert current_conversation() is None


def test_a_propagated_eager_error_is_recorded(
    eager: None, memory_sink: convtrack.MemorySink
) -> None:
    """apply(throw=True): the task's exception is raised as it is; the run records it."""
    with convtrack.conversation("chat-e6"), pytest.raises(ValueError, match="the task failed"):
        celery_tasks.fail.apply(throw=True)
    convtrack.flush()
    (run,) = memory_sink.runs
    assert (run.status, run.error) == ("error", "ValueError: the task failed")
    assert (run.metadata["state"], run.conversation_id) == ("FAILURE", "chat-e6")
    assert current_conversation() is None


def test_an_uninstrumented_task_records_no_run(
    eager: None, memory_sink: convtrack.MemorySink
) -> None:
    """After uninstrument(), a task runs as without convtrack, its tracer built before too."""
    from celery.app.trace import build_tracer

    task = celery_tasks.app.tasks["tests.record"]
    built_while_on = build_tracer(task.name, task, eager=True, app=celery_tasks.app)
    convtrack_celery.uninstrument()
    with convtrack.conversation("chat-e7"):
        assert celery_tasks.record.delay("u").get()["conversation_id"] == "chat-e7"
        built_while_on("u-id", ("u",), {}, {"id": "u-id", "is_eager": True})
    convtrack.flush()
    assert [run.name for run in memory_sink.runs] == ["step", "step"]


def test_a_tracer_built_before_instrument_is_traced(memory_sink: convtrack.MemorySink) -> None:
    """instrument() in a running worker: the tracers it has built record runs from then on."""
    from celery.app import trace

    convtrack_celery.uninstrument()
    celery_tasks.app.finalize()
    task = celery_tasks.app.tasks["tests.record"]
    task.__trace__ = trace.build_tracer(task.name, task, app=celery_tasks.app)  # a worker's
    convtrack_celery.instrument()
    try:
        with convtrack.conversation("chat-e8"):
            header = {"conversation_id": "chat-e8"}
            request = {"id": "t-id", "convtrack": header, "ignore_result": True}
            trace.trace_task(task, "t-id", ("t",), {}, request=request)
    finally:
        task.__trace__ = None
    convtrack.flush()
    task_run = next(run for run in memory_sink.runs if run.name == "tests.record")
    assert (task_run.conversation_id, task_run.metadata["task_id"]) == ("chat-e8", "t-id")


def test_nothing_is_recorded_when_convtrack_is_not_configured(eager: None) -> None:
    """Not configured: the task still runs in the conversation, nothing is built."""
    with convtrack.conversation("chat-e4"):
        assert celery_tasks.record.delay("n").get()["conversation_id"] == "chat-e4"


def _delay_error(app: Celery) -> BaseException:
    """What `delay()` raises on `app` (whose broker is down)."""
    task = app.tasks["tests.down"]
    with pytest.raises(Exception) as raised:
        task.delay(1)
    return raised.value


def test_a_broker_down_behaves_exactly_as_without_convtrack() -> None:
    """Broker down: delay() raises the same error, instrumented or not, context unchanged."""
    app = Celery("down", broker=free_port_url(), backend=None)
    app.conf.update(broker_connection_timeout=0.2, broker_connection_retry=False)
    app.conf.task_publish_retry = False

    @app.task(name="tests.down")
    def down(x: int) -> int:
        return x

    convtrack_celery.uninstrument()
    with convtrack.conversation("chat-e5"):
        plain = _delay_error(app)
    convtrack_celery.instrument()
    with convtrack.conversation("chat-e5"):
        instrumented = _delay_error(app)
        assert convtrack.get_conversation_id() == "chat-e5"
    assert type(instrumented) is type(plain)
    assert str(instrumented) == str(plain)


def test_instrument_and_uninstrument_are_safe_twice() -> None:
    """instrument()/uninstrument() may be called twice; is_instrumented() follows."""
    convtrack_celery.instrument()
    convtrack_celery.instrument()
    assert convtrack_celery.is_instrumented()
    convtrack_celery.uninstrument()
    convtrack_celery.uninstrument()
    assert not convtrack_celery.is_instrumented()


def test_convtrack_instrument_turns_it_on_by_name() -> None:
    """convtrack.instrument("celery") finds the integration through its entry point."""
    convtrack_celery.uninstrument()
    assert convtrack.instrument("celery") == ["celery"]
    assert convtrack_celery.is_instrumented()
