"""convtrack.instrument(*names): turn on installed integrations through their entry points."""

from __future__ import annotations

import importlib
from importlib.metadata import EntryPoint, entry_points

GROUP = "convtrack.integrations"
# Integrations that instrument nothing: how each is used instead.
_USED_BY_HAND = {
    "asgi": "convtrack-asgi is used by adding its middleware to your app "
    "(app.add_middleware(ConversationMiddleware)), not by instrument()",
    "otel": "convtrack-otel is used by adding its span processor or sink "
    "(ConversationSpanProcessor, OTelSink), not by instrument()",
    "redis": "convtrack-redis is used by giving its store to the grouper "
    "(ConversationGrouper(RedisStore(...))), not by instrument()",
}


def _available() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def instrument(*names: str) -> list[str]:
    """Instrument the named integrations (all installed ones when no name is given).

    Returns:
        The names instrumented.

    Raises:
        ValueError: a named integration is not installed (the message says what to install).
    """
    available = _available()
    chosen = names or tuple(sorted(available))
    for name in chosen:
        if name not in available and name in _USED_BY_HAND:
            raise ValueError(_USED_BY_HAND[name])
        if name not in available:
            raise ValueError(
                f"no convtrack integration named {name!r} is installed "
                f"(pip install convtrack-{name}); "
                f"installed: {', '.join(sorted(available)) or 'none'}"
            )
    for name in chosen:
        available[name].load()()  # the entry point names `module:instrument`
    return list(chosen)


def uninstrument(*names: str) -> list[str]:
    """Undo `instrument()` for the named (or all installed) integrations."""
    available = _available()
    chosen = [n for n in (names or tuple(sorted(available))) if n in available]
    for name in chosen:
        importlib.import_module(available[name].module).uninstrument()
    return chosen
