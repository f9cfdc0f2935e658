"""instrument()/uninstrument(): every LangChain run observed, in every thread and task.

Two pieces, both undone by `uninstrument()`:

- A LangChain configure hook (`register_configure_hook`, the mechanism LangChain uses to add
  LangSmith's tracer from a ContextVar): every callback manager LangChain configures gets
  one shared `ConversationCallbackHandler`, as an inheritable handler, unless the run
  already has one. The ContextVar's *default* is the handler, so it is present in every
  thread (a plain `threading.Thread` too) and every task, with nothing to propagate.
- A wrapt patch of `CallbackManager.configure` and `AsyncCallbackManager.configure`, the
  two entry points through which every run's callbacks are configured. It adds inheritable
  run metadata, which every handler (LangSmith's and Langfuse's tracers included) receives
  with each run, when the run carries no `conversation_id`/`thread_id`/`session_id` yet:
  a `configurable` id (`config={"configurable": {"thread_id": ...}}`, which
  langchain-core >= 1.0 passes to LangSmith only, and LangGraph copies into metadata
  itself), else the current convtrack conversation's id as `conversation_id` and
  `thread_id`. A configure hook cannot do this: it only adds handlers.

Also `_configurable`'s wrapper of `ensure_config` in the chat model (and LLM) modules, so
that a bare model call's `configurable` ids count as a chain's do. And the chat model
wrappers of `_nest` (any `ConversationCallbackHandler` puts them in place too), so that the
SDK calls a chat model makes nest under its run; `uninstrument()` removes them.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import Any

from langchain_core.callbacks import AsyncCallbackManager, BaseCallbackManager, CallbackManager
from langchain_core.tracers import context as tracer_context

from convtrack.instrumentation import Patches, current_conversation, report

from . import _configurable, _nest
from ._handler import ConversationCallbackHandler

_lock = threading.Lock()
_hook: tuple[Any, ...] | None = None  # the entry we appended to LangChain's configure hooks
_handler: ConversationCallbackHandler | None = None


def instrument() -> None:
    """Observe every LangChain run, in every thread and task, without passing callbacks.

    Runs started inside a convtrack conversation also get metadata `conversation_id` and
    `thread_id` (when they carry no id), so LangChain's other tracers see the conversation.
    Safe to call twice.
    """
    global _hook, _handler
    with _lock:
        if _hook is not None:
            return
        handler = ConversationCallbackHandler()
        var: ContextVar[ConversationCallbackHandler | None] = ContextVar(
            "convtrack_langchain_handler", default=handler
        )
        tracer_context.register_configure_hook(
            var, inheritable=True, handle_class=ConversationCallbackHandler
        )
        _hook = next(e for e in tracer_context._configure_hooks if e[0] is var)
        _handler = handler
        _nest.enable()
        _configurable.enable()
        _patches.apply()


def uninstrument() -> None:
    """Undo `instrument()`: no handler is added to new runs, no metadata. Safe to call twice.

    Also unwraps chat models (a `ConversationCallbackHandler` still in use wraps them again).
    """
    global _hook, _handler
    with _lock:
        _nest.disable()
        if _hook is None:
            return
        _patches.remove()
        _configurable.disable()
        hooks = tracer_context._configure_hooks
        for index, entry in enumerate(hooks):
            if entry is _hook:
                del hooks[index]
                break
        _hook = None
        _handler = None


def is_instrumented() -> bool:
    """Whether `instrument()` is in effect."""
    return _hook is not None


def instrumented_handler() -> ConversationCallbackHandler | None:
    """The handler `instrument()` adds to every run (None when not instrumented)."""
    return _handler


def _configure(wrapped: Any, cls: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """`CallbackManager.configure`, then the conversation's id added to the run metadata."""
    manager = wrapped(*args, **kwargs)
    try:
        _add_conversation_metadata(manager, kwargs.get("langsmith_inheritable_metadata"))
    except Exception as exc:
        report("langchain: conversation metadata", exc)
    return manager


_MANAGER = CallbackManager.__module__
_patches = Patches(
    "langchain-core",
    [
        (_MANAGER, CallbackManager.__name__, "configure", _configure),
        (AsyncCallbackManager.__module__, AsyncCallbackManager.__name__, "configure", _configure),
    ],
)


def _add_conversation_metadata(manager: BaseCallbackManager, configurable: Any) -> None:
    metadata = manager.metadata
    if "conversation_id" in metadata or "thread_id" in metadata or "session_id" in metadata:
        return
    if configurable:
        ids = _configurable.ids_in(configurable)
        if ids:
            manager.add_metadata(ids)
            return
    ctx = current_conversation()
    if ctx is not None and ctx.conversation_id:
        conversation_id = ctx.conversation_id
        manager.add_metadata({"conversation_id": conversation_id, "thread_id": conversation_id})
