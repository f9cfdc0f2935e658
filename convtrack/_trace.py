"""trace(): record a user-defined step as a Run (decorator and context manager)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from contextvars import Token
from types import TracebackType
from typing import Any, TypeVar, cast

from . import _config
from ._context import EMPTY_METADATA, ReadOnlyMetadata
from ._generators import Hooks, wrap_async_generator, wrap_generator
from ._guard import report
from ._handle import RunHandle, current_run, reset_current_run, set_current_run
from ._runs import RunKind
from ._start import NULL_RUN, NullRun, start_run, start_step

F = TypeVar("F", bound=Callable[..., Any])


class trace:
    """Record a step of your own as a run, with its parent/child links and errors.

    Args:
        name: the run's name; as a decorator, defaults to the function's qualified name.
        kind: `"function"` (default), `"chain"`, `"tool"`, `"retriever"`, `"llm"`, `"http"`
            or `"task"`.
        metadata: extra key/values for the run.

    Example:
        >>> @trace()
        ... def retrieve(query): ...
        >>> with trace("rerank") as step:
        ...     step.set_output("done")
    """

    __slots__ = ("_entries", "_kind", "_metadata", "_name")

    def __init__(
        self,
        name: str | None = None,
        *,
        kind: RunKind | str = RunKind.FUNCTION,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        if callable(name):
            raise TypeError("write @trace() with parentheses (or @trace(name='...'))")
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name must be a non-empty str or None, got {name!r}")
        try:
            self._kind = RunKind(kind)
        except ValueError:
            kinds = ", ".join(k.value for k in RunKind)
            raise ValueError(f"kind must be one of {kinds}; got {kind!r}") from None
        if metadata is not None and not isinstance(metadata, Mapping):
            raise TypeError(f"metadata must be a mapping, got {type(metadata).__name__}")
        self._name = name
        self._metadata = metadata
        self._entries: list[tuple[RunHandle, Token[RunHandle | None]]] = []

    def _begin(self, name: str, inputs: Any) -> RunHandle | None:
        try:
            return start_run(
                self._kind, name, source="trace", inputs=inputs, metadata=self._metadata
            )
        except Exception as exc:
            report("trace (start)", exc)
            return None

    # -- context manager -------------------------------------------------------------

    def __enter__(self) -> RunHandle | NullRun:
        if _config.current is None:
            return NULL_RUN
        try:
            run = start_run(
                self._kind, self._name or "trace", source="trace", metadata=self._metadata
            )
        except Exception as exc:
            report("trace (start)", exc)
            run = None
        if run is None:
            return NULL_RUN
        self._entries.append((run, run.activate()))
        return run

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        entries = self._entries
        if not entries:
            return
        now = current_run()
        index = next((i for i, (run, _) in enumerate(entries) if run is now), len(entries) - 1)
        run, token = entries.pop(index)
        RunHandle.deactivate(token)
        run.end(error=exc)

    async def __aenter__(self) -> RunHandle | NullRun:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- decorator ---------------------------------------------------------------------

    def __call__(self, fn: F) -> F:
        if not callable(fn):
            raise TypeError(f"trace(...) decorates a function, got {type(fn).__name__}")
        step = _Step(
            self._kind,
            self._name or getattr(fn, "__qualname__", None) or repr(fn),
            EMPTY_METADATA if self._metadata is None else ReadOnlyMetadata(self._metadata),
        )
        if inspect.isasyncgenfunction(fn):
            wrapper = wrap_async_generator(fn, step.hooks)
        elif inspect.isgeneratorfunction(fn):
            wrapper = wrap_generator(fn, step.hooks)
        elif inspect.iscoroutinefunction(fn):
            wrapper = _async_wrapper(fn, step)
        else:
            wrapper = _sync_wrapper(fn, step)
        return cast(F, functools.wraps(fn)(wrapper))


class _Step:
    """What a traced function's runs are: kind, name, metadata; starts one per call."""

    __slots__ = ("kind", "metadata", "name")

    def __init__(self, kind: RunKind, name: str, metadata: Mapping[str, Any]) -> None:
        self.kind = kind
        self.name = name
        self.metadata = metadata

    def start(
        self, recorder: _config.Recorder, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> RunHandle | None:
        """Start the run of one call (None, reported, if that fails)."""
        try:
            inputs = _inputs(args, kwargs) if recorder.capture_content else None
            return start_step(self.kind, self.name, "trace", current_run(), inputs, self.metadata)
        except Exception as exc:
            report("trace (start)", exc)
            return None

    def hooks(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hooks:
        """A traced generator's hooks: its run spans the iteration."""
        recorder = _config.current
        run = None if recorder is None else self.start(recorder, args, kwargs)
        return _NO_HOOKS if run is None else _run_hooks(run)


def _async_wrapper(fn: Callable[..., Any], step: _Step) -> Callable[..., Any]:
    async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
        recorder = _config.current
        if recorder is None:
            return await fn(*args, **kwargs)
        run = step.start(recorder, args, kwargs)
        if run is None:
            return await fn(*args, **kwargs)
        token = set_current_run(run)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            run.end(error=exc)
            raise
        finally:
            reset_current_run(token)
        run.end_ok(result)
        return result

    return async_wrapper


def _sync_wrapper(fn: Callable[..., Any], step: _Step) -> Callable[..., Any]:
    kind, name, meta = step.kind, step.name, step.metadata

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        recorder = _config.current
        if recorder is None:
            return fn(*args, **kwargs)
        # `step.start()`, inlined: the hot path of a traced call (bench_context.py, trace rows)
        try:
            inputs = _inputs(args, kwargs) if recorder.capture_content else None
            run = start_step(kind, name, "trace", current_run(), inputs, meta)
            token = set_current_run(run)
        except Exception as exc:
            report("trace (start)", exc)
            return fn(*args, **kwargs)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            run.end(error=exc)
            raise
        finally:
            reset_current_run(token)
        run.end_ok(result)
        return result

    return wrapper


def _inputs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if not kwargs:
        return list(args) if args else None
    return {"args": list(args), "kwargs": kwargs} if args else kwargs


def _nothing(token: object = None) -> None:
    return None


_NO_HOOKS = Hooks(_nothing, _nothing)


def _run_hooks(run: RunHandle) -> Hooks:
    """A traced generator's run spans its iteration; its steps run with the run current."""

    def finish(error: BaseException | None, count: int, closed: bool) -> None:
        if error is not None:
            run.end(error=error)
        else:
            run.end(outputs={"items": count, "closed": True} if closed else {"items": count})

    return Hooks(run.activate, reset_current_run, finish)
