"""Deadline: run a blocking call on a worker thread and wait for it no longer than a timeout.

A synchronous redis-py call cannot be interrupted: with a frozen server it waits for
the client's own socket timeout, and its retries, whatever they are. ``RedisStore``
therefore sends its commands from a few daemon worker threads and waits for each at
most its timeout; a call that overruns goes on in its worker (which is free again
once the client gives up) while the caller moves on. At most ``max_workers`` threads
ever wait on Redis; daemon threads never delay the interpreter's exit, and a worker
left without work for a minute ends.
"""

from __future__ import annotations

import contextvars
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

T = TypeVar("T")
_Job = tuple["Future[Any]", Callable[[], Any]]


class DeadlineExceeded(TimeoutError):
    """A call did not finish within its timeout (it may still finish later, unobserved)."""


class Deadline:
    """Runs calls on up to `max_workers` daemon threads, waiting at most `timeout` for each.

    Args:
        timeout: seconds a caller waits for one call (including any wait for a free worker).
        max_workers: the most threads; more concurrent calls queue for one.
        name: the worker threads' name prefix.
    """

    idle_exit = 60.0
    """Seconds an unneeded worker waits for a job before it ends."""

    def __init__(self, timeout: float, *, max_workers: int = 8, name: str = "convtrack") -> None:
        self.timeout = timeout
        self._max_workers = max_workers
        self._name = name
        self._start()

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Return ``fn(*args, **kwargs)`` run on a worker, in the caller's context.

        Raises:
            DeadlineExceeded: no result within ``timeout`` seconds.
            Exception: whatever ``fn`` raised.
        """
        if os.getpid() != self._pid:
            self._start()  # forked (e.g. gunicorn --preload): the parent's workers are not here
        future: Future[T] = Future()
        context = contextvars.copy_context()
        self._submit((future, lambda: context.run(fn, *args, **kwargs)))
        try:
            return future.result(self.timeout)
        except FutureTimeout:
            future.cancel()  # still queued: it never runs
            raise DeadlineExceeded(f"no answer within {self.timeout:g}s") from None

    def _start(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._queued = 0  # jobs put and not yet taken by a worker
        self._waiting = 0  # workers waiting for a job
        self._workers = 0

    def _submit(self, job: _Job) -> None:
        with self._lock:
            self._queued += 1
            spawn = self._queued > self._waiting and self._workers < self._max_workers
            if spawn:
                self._workers += 1
                self._waiting += 1  # counted from now, so that no other caller spawns for it
        if spawn:
            name = f"{self._name}-{self._workers}"
            worker = threading.Thread(target=self._work, args=(self._jobs,), name=name, daemon=True)
            try:
                worker.start()
            except BaseException:  # no thread to be had (at exit, or at a resource limit)
                with self._lock:
                    self._queued -= 1
                    self._workers -= 1
                    self._waiting -= 1
                raise
        self._jobs.put(job)

    def _work(self, jobs: queue.SimpleQueue[_Job]) -> None:
        while True:
            try:
                future, call = jobs.get(timeout=self.idle_exit)
            except queue.Empty:
                with self._lock:
                    if self._waiting > self._queued:  # not needed: exit (a store may be dropped)
                        self._waiting -= 1
                        self._workers -= 1
                        return
                continue
            with self._lock:
                self._queued -= 1
                self._waiting -= 1
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call())
                except BaseException as exc:  # handed to the caller, who may be gone
                    future.set_exception(exc)
            with self._lock:
                self._waiting += 1
