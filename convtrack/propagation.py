"""Carry the conversation into other threads: `propagate(fn)` and opt-in threading instrumentation.

asyncio already copies the context into tasks (`create_task`, `gather`, `to_thread`); plain
threads and `ThreadPoolExecutor` do not, unless a function is wrapped with `propagate()` or
`instrument_threading()` is on.
"""

from __future__ import annotations

import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from ._patch import patch, unpatch

P = ParamSpec("P")
R = TypeVar("R")

__all__ = ["instrument_threading", "propagate", "uninstrument_threading"]


def propagate(fn: Callable[P, R]) -> Callable[P, R]:
    """Return `fn` bound to a copy of the current context (conversation, current run).

    Each call runs in its own copy of the context captured now, so the result may be
    called from any thread, any number of times, even concurrently.

    Example:
        >>> pool.submit(propagate(work), item)
    """
    if not callable(fn):
        raise TypeError(f"propagate() takes a callable, got {type(fn).__name__}")
    captured = contextvars.copy_context()

    @functools.wraps(fn)
    def run_in_context(*args: P.args, **kwargs: P.kwargs) -> R:
        return captured.copy().run(fn, *args, **kwargs)

    return run_in_context


def _thread_start(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    instance._convtrack_context = contextvars.copy_context()
    return wrapped(*args, **kwargs)


def _thread_run(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    context = getattr(instance, "_convtrack_context", None)
    if context is None:
        return wrapped(*args, **kwargs)
    return context.run(wrapped, *args, **kwargs)


def _executor_submit(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    if args:
        return wrapped(propagate(args[0]), *args[1:], **kwargs)
    return wrapped(*args, **kwargs)


def instrument_threading() -> None:
    """From now on, new threads and ThreadPoolExecutor tasks run in the submitter's context."""
    patch(threading.Thread, "start", _thread_start)
    patch(threading.Thread, "run", _thread_run)
    patch(ThreadPoolExecutor, "submit", _executor_submit)


def uninstrument_threading() -> None:
    """Undo `instrument_threading()` (safe to call when it is off)."""
    unpatch(threading.Thread, "start")
    unpatch(threading.Thread, "run")
    unpatch(ThreadPoolExecutor, "submit")
