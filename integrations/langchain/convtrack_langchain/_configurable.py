"""A bare model call's ``configurable`` ids, honoured as a chain's are.

``ChatOpenAI(...).invoke(messages, config={"configurable": {"thread_id": "t-1"}})``: a
chain hands ``configurable`` to ``CallbackManager.configure`` (as LangSmith-only metadata,
which `instrument()` copies into the run metadata), but a chat model's (or LLM's)
``invoke``/``ainvoke``/``stream``/``astream`` read only ``callbacks``, ``tags`` and
``metadata`` from their config and drop ``configurable`` before any callback manager exists.
Each of them first calls ``ensure_config(config)`` (``batch``/``abatch`` go through them), so
`instrument()` wraps that name in those modules (``chat_models``, ``llms``, and
``tools.base``, whose bare tool calls drop ``configurable`` alike): when the
config's ``configurable`` names a ``conversation_id``/``thread_id``/``session_id`` and its
``metadata`` names none, the ids are added to the ``metadata`` of the fresh config
``ensure_config`` returns. The caller's config is not changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import chat_models, llms
from langchain_core.tools import base as tools

from convtrack.instrumentation import Patches, report

from ._state import ID_KEYS


def enable() -> None:
    """Wrap `ensure_config` where the model entry points look it up (safe to call twice)."""
    _patches.apply()


def disable() -> None:
    """Undo `enable()` (safe to call twice)."""
    _patches.remove()


def _ensure_config(
    wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    config = wrapped(*args, **kwargs)
    try:
        return with_ids(config)
    except Exception as exc:
        report("langchain: configurable ids", exc)
        return config


def with_ids(config: Any) -> Any:
    """`config` with its ``configurable`` ids in ``metadata``; `config` itself when none apply."""
    if not isinstance(config, Mapping):
        return config
    configurable = config.get("configurable")
    if not isinstance(configurable, Mapping):
        return config
    metadata = config.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    if any(key in metadata for key in ID_KEYS):
        return config
    ids = ids_in(configurable)
    if not ids:
        return config
    return {**config, "metadata": {**metadata, **ids}}


_patches = Patches(
    "langchain-core",
    [
        (module.__name__, "", "ensure_config", _ensure_config)
        for module in (chat_models, llms, tools)
    ],
)


def ids_in(configurable: Mapping[str, Any]) -> dict[str, Any]:
    """The conversation ids a `configurable` mapping names (`conversation_id`, ...)."""
    return {key: configurable[key] for key in ID_KEYS if is_id(configurable.get(key))}


def is_id(value: Any) -> bool:
    """A usable id: a non-empty str or an int."""
    return (isinstance(value, str) and bool(value)) or (
        isinstance(value, int) and not isinstance(value, bool)
    )
