"""convtrack-celery: a Celery task runs in the conversation it was sent from.

A task sent inside a conversation carries it (id, user, agent, metadata, and the run that
sent it) in a `convtrack` message header; the worker runs the task inside it and records one
run per execution (`kind="task"`, metadata `{"celery": True, "task_id", "retries",
"state"}`), nested under the run that sent it. Retries keep the conversation; a task sent
outside any conversation runs outside one.

Example:
    >>> import convtrack_celery
    >>> convtrack_celery.instrument()   # in the app that sends tasks and in the worker
"""

from __future__ import annotations

import sys
from typing import Any

from convtrack.instrumentation import Instrumentor, Target, missing_dependency, report

from . import _execution
from ._message import HEADER

__version__ = "0.1.0"

__all__ = ["HEADER", "instrument", "is_instrumented", "uninstrument"]

_UID = "convtrack_celery"
# Celery's worker consumer imports `build_tracer` by name: patched there too once imported
# (imported later, it takes the patched one).
_CONSUMER = "celery.worker.consumer.consumer"


def _receivers() -> list[tuple[Any, Any]]:
    """(Celery signal, convtrack's receiver) pairs: the sending side and worker shutdown."""
    try:
        from celery import signals
    except ImportError as exc:
        raise missing_dependency("convtrack_celery", "celery", "convtrack-celery") from exc
    from . import _signals as receivers

    return [
        (signals.before_task_publish, receivers.before_task_publish),
        (signals.worker_process_shutdown, receivers.worker_shutdown),
        (signals.worker_shutdown, receivers.worker_shutdown),
    ]


class CeleryInstrumentor(Instrumentor):
    """Wraps the tracer Celery runs each execution with, and connects two signals."""

    library = "celery"
    switch = _execution.switch

    def targets(self) -> list[Target]:
        """`build_tracer`, where Celery gets the function that runs each execution."""
        _receivers()  # celery is importable
        found: list[Target] = [("celery.app.trace", "", "build_tracer", _execution.build_tracer)]
        if _CONSUMER in sys.modules:
            found.append((_CONSUMER, "", "build_tracer", _execution.build_tracer))
        return found

    def _on_instrument(self) -> None:
        for signal, receiver in _receivers():
            signal.connect(receiver, weak=False, dispatch_uid=_UID)
        try:  # the apps of a worker running already: their tracers are built
            # shared_task's registry of apps (Celery 3+), not in the type stubs
            from celery._state import _get_active_apps  # type: ignore[attr-defined]

            for app in list(_get_active_apps()):
                if app.finalized:
                    _execution.wrap_built(app.tasks.values())
        except Exception as exc:
            report("celery (wrapping the tracers built before instrument())", exc)

    def _on_uninstrument(self) -> None:
        for signal, receiver in _receivers():
            signal.disconnect(receiver, dispatch_uid=_UID)


_instrumentor = CeleryInstrumentor()
instrument = _instrumentor.instrument
uninstrument = _instrumentor.uninstrument
is_instrumented = _instrumentor.is_instrumented
