"""While a chat model runs, its convtrack run is the current run: work it does nests under it.

A LangChain chat model that calls an instrumented SDK (``ChatOpenAI`` calls the ``openai``
client, ``ChatAnthropic`` the ``anthropic`` one) would otherwise be recorded as two unrelated
LLM runs, each deciding its conversation: the SDK call is made in the caller's context, where
the LangChain run is not current. With the LangChain run current, the SDK integration records
its call as a child of that run, in that run's conversation (a child takes its root's
conversation: it is not grouped again), so a turn gets one conversation decision.

Callbacks cannot do this: langchain-core may run them in a copy of the context (a thread pool,
an async handler that is not inline), and a value they set would leak into the caller's code
or not reach the model call at all. So langchain-core's chat model entry points are wrapped
(wrapt, undoably; only while the integration is in use), and the run is current exactly while
the model works:

- ``BaseChatModel._generate_with_cache`` / ``_agenerate_with_cache`` (``invoke``, ``batch``,
  ``generate``, and streaming done inside them) get the run's manager: its run is current
  around the call.
- ``BaseChatModel._iter_v2_events`` / ``_aiter_v2_events`` (the event streams of
  ``stream_events(version="v3")``) get it too: its run is current during each step.
- ``BaseChatModel.stream`` / ``astream`` call the model's ``_stream`` without it. Each step of
  the iterator they return runs in a scope; the first ``on_chat_model_start`` of the run
  managers inside the scope names the run, which is then current for the rest of that step and
  for the following steps, and never between steps: the consumer's code between two chunks
  does not see it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import wrapt

from convtrack.instrumentation import (
    NULL_RUN,
    Patches,
    RunHandle,
    is_recording,
    report,
)

from ._state import RunOwner


class Switch:
    """Whether chat model calls are wrapped so that their run is current.

    Off, a wrapper a caller still holds passes straight through.
    """

    on = False


_switch = Switch()


class _Scope:
    """One `stream()`/`astream()` call: the run its first chat model start names."""

    __slots__ = ("claimed", "run")

    def __init__(self) -> None:
        self.claimed = False
        self.run: RunHandle | None = None


_scope: ContextVar[_Scope | None] = ContextVar("convtrack_langchain.stream", default=None)


def run_of(manager: Any) -> RunHandle | None:
    """The open convtrack run of a LangChain run manager (None when no handler of ours has it)."""
    if manager is None or not is_recording():
        return None
    run_id = manager.run_id
    for handler in manager.handlers:
        if isinstance(handler, RunOwner):
            run = handler._open_run(run_id)
            if run is not None:
                return run
    return None


def _run_of_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> RunHandle | None:
    """The run of a `_generate_with_cache(messages, stop=None, run_manager=None, ...)` call."""
    if not _switch.on:
        return None
    try:
        return run_of(kwargs.get("run_manager", args[2] if len(args) > 2 else None))
    except Exception as exc:
        report("langchain: finding a chat model's run", exc)
        return None


def _generate(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    run = _run_of_call(args, kwargs)
    if run is None:
        return wrapped(*args, **kwargs)
    token = run.activate()
    try:
        return wrapped(*args, **kwargs)
    finally:
        RunHandle.deactivate(token)


async def _agenerate(
    wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    run = _run_of_call(args, kwargs)
    if run is None:
        return await wrapped(*args, **kwargs)
    token = run.activate()
    try:
        return await wrapped(*args, **kwargs)
    finally:
        RunHandle.deactivate(token)


def _claim(managers: Any) -> None:
    """Inside a stream's step: the first chat model run started names the stream's run."""
    scope = _scope.get()
    if scope is None or scope.claimed:
        return
    scope.claimed = True
    if isinstance(managers, list) and len(managers) == 1:
        run = run_of(managers[0])
        if run is not None:
            scope.run = run
            run.activate()  # undone when the step ends (`_Steps._self_enter`)


def _chat_model_start(
    wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    managers = wrapped(*args, **kwargs)
    if _switch.on:
        try:
            _claim(managers)
        except Exception as exc:
            report("langchain: nesting a stream's calls", exc)
    return managers


async def _achat_model_start(
    wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    managers = await wrapped(*args, **kwargs)
    if _switch.on:
        try:
            _claim(managers)
        except Exception as exc:
            report("langchain: nesting a stream's calls", exc)
    return managers


class _Steps(wrapt.ObjectProxy[Any]):
    """The iterator `stream()` returns, unchanged, each step run in the stream's scope."""

    def __init__(self, wrapped: Any, run: RunHandle | None = None) -> None:
        super().__init__(wrapped)
        self._self_scope = scope = _Scope()
        if run is not None:  # known from the start: no chat model start to wait for
            scope.claimed = True
            scope.run = run

    def _self_enter(self) -> tuple[Any, Any]:
        scope = self._self_scope
        run = scope.run
        return _scope.set(scope), (run if run is not None else NULL_RUN).activate()

    @staticmethod
    def _self_exit(tokens: tuple[Any, Any]) -> None:
        RunHandle.deactivate(tokens[1])
        _scope.reset(tokens[0])


class _SyncSteps(_Steps):
    def __iter__(self) -> Any:
        return self

    def __next__(self) -> Any:
        return self._self_step(self.__wrapped__.__next__)

    def send(self, value: Any) -> Any:
        """`generator.send`, in the stream's scope."""
        return self._self_step(self.__wrapped__.send, value)

    def throw(self, *args: Any) -> Any:
        """`generator.throw`, in the stream's scope."""
        return self._self_step(self.__wrapped__.throw, *args)

    def _self_step(self, step: Callable[..., Any], *args: Any) -> Any:
        tokens = self._self_enter()
        try:
            return step(*args)
        finally:
            self._self_exit(tokens)


class _AsyncSteps(_Steps):
    def __aiter__(self) -> Any:
        return self

    async def __anext__(self) -> Any:
        return await self._self_step(self.__wrapped__.__anext__)

    async def asend(self, value: Any) -> Any:
        """`async_generator.asend`, in the stream's scope."""
        return await self._self_step(self.__wrapped__.asend, value)

    async def athrow(self, *args: Any) -> Any:
        """`async_generator.athrow`, in the stream's scope."""
        return await self._self_step(self.__wrapped__.athrow, *args)

    async def _self_step(self, step: Callable[..., Any], *args: Any) -> Any:
        tokens = self._self_enter()
        try:
            return await step(*args)
        finally:
            self._self_exit(tokens)


def _stream(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    result = wrapped(*args, **kwargs)
    if not _switch.on or not is_recording():
        return result
    return _SyncSteps(result)


def _astream(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    result = wrapped(*args, **kwargs)
    if not _switch.on or not is_recording():
        return result
    return _AsyncSteps(result)


def _events(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """`_iter_v2_events(messages, *, run_manager, ...)` (`stream_events(version="v3")`)."""
    result = wrapped(*args, **kwargs)
    run = _run_of_call((), kwargs)
    return result if run is None else _SyncSteps(result, run)


def _aevents(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """`_aiter_v2_events(messages, *, run_manager, ...)`."""
    result = wrapped(*args, **kwargs)
    run = _run_of_call((), kwargs)
    return result if run is None else _AsyncSteps(result, run)


_MODELS = "langchain_core.language_models.chat_models"
_MANAGERS = "langchain_core.callbacks.manager"
_patches = Patches(
    "langchain-core",
    [
        (_MODELS, "BaseChatModel", "_generate_with_cache", _generate),
        (_MODELS, "BaseChatModel", "_agenerate_with_cache", _agenerate),
        (_MODELS, "BaseChatModel", "stream", _stream),
        (_MODELS, "BaseChatModel", "astream", _astream),
        (_MODELS, "BaseChatModel", "_iter_v2_events", _events),  # where langchain-core has them
        (_MODELS, "BaseChatModel", "_aiter_v2_events", _aevents),
        (_MANAGERS, "CallbackManager", "on_chat_model_start", _chat_model_start),
        (_MANAGERS, "AsyncCallbackManager", "on_chat_model_start", _achat_model_start),
    ],
    _switch,
)


def nest_model_calls() -> None:
    """Have chat model calls run with their run current, if not done already (guarded)."""
    if _switch.on:
        return
    try:
        enable()
    except Exception as exc:
        report("langchain: wrapping chat models", exc)


def enable() -> None:
    """Wrap the chat model entry points (once; cheap when done already)."""
    if not _switch.on:
        _patches.apply()


def disable() -> None:
    """Undo `enable()` (safe to call twice)."""
    _patches.remove()


def is_enabled() -> bool:
    """Whether the chat model entry points are wrapped."""
    return _switch.on
