"""convtrack.instrument(*names): turn on installed integrations through their entry points.

An integration names the library it instruments (entry point group `convtrack.targets`):
when that library is not imported yet, the integration is loaded and turned on only when the
application imports it (a wrapt post-import hook), so an SDK the app never uses costs nothing.
"""

from __future__ import annotations

import importlib
import sys
import threading
from types import ModuleType
from typing import TYPE_CHECKING

from ._guard import report

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

GROUP = "convtrack.integrations"
TARGETS = "convtrack.targets"
# Integrations that instrument nothing: how each is used instead.
_USED_BY_HAND = {
    "asgi": "convtrack-asgi is used by adding its middleware to your app "
    "(app.add_middleware(ConversationMiddleware)), not by instrument()",
    "otel": "convtrack-otel is used by adding its span processor or sink "
    "(ConversationSpanProcessor, OTelSink), not by instrument()",
    "redis": "convtrack-redis is used by giving its store to the grouper "
    "(ConversationGrouper(RedisStore(...))), not by instrument()",
    "http": "convtrack-http sends conversation ids out of the process, so it is turned on "
    "explicitly: convtrack_http.instrument(hosts=[...]), not by instrument()",
    "postgres": "convtrack-postgres is used as a sink: configure(sinks=['postgresql://...']), "
    "not by instrument()",
}
_lock = threading.Lock()
_waiting: set[str] = set()  # integrations waiting for their library to be imported
_hooked: set[str] = set()  # integrations with a post-import hook (a hook cannot be removed)


# importlib.metadata and wrapt are imported when instrument() is called, not with convtrack:
# `import convtrack` (the pytest plugin too) stays cheap.


def _available() -> dict[str, EntryPoint]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=GROUP)}


def _targets() -> dict[str, str]:
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=TARGETS)}


def instrument(*names: str) -> list[str]:
    """Instrument the named integrations (all installed ones when no name is given).

    An integration whose library is not imported yet is turned on when the application
    imports it; one whose library is imported already is turned on now.

    Returns:
        The names instrumented (or waiting for their library).

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
    targets = _targets()
    for name in chosen:
        library = targets.get(name)
        if library is None or library in sys.modules:
            available[name].load()()  # the entry point names `module:instrument`
        else:
            _wait_for(library, name, available[name])
    return list(chosen)


def _wait_for(library: str, name: str, entry: EntryPoint) -> None:
    """Turn `name` on once `library` is imported."""
    with _lock:
        _waiting.add(name)
        if name in _hooked:
            return  # its hook is in place: it turns the integration on while it waits
        _hooked.add(name)

    def on_import(module: ModuleType) -> None:
        integration = sys.modules.get(entry.module)
        if integration is not None and not hasattr(integration, entry.attr):
            return  # the integration's own import brought the library in: its hook follows
        with _lock:
            if name not in _waiting:
                return  # turned on already, or uninstrumented meanwhile
            _waiting.discard(name)
        try:
            entry.load()()
        except Exception as exc:  # never in the way of the application's import
            report(f"instrumenting {name} on import", exc)

    import wrapt

    # the library's import, or the integration's (which imports the library) once complete
    wrapt.register_post_import_hook(on_import, library)
    wrapt.register_post_import_hook(on_import, entry.module)


def uninstrument(*names: str) -> list[str]:
    """Undo `instrument()` for the named (or all installed) integrations."""
    available = _available()
    chosen = [n for n in (names or tuple(sorted(available))) if n in available]
    targets = _targets()
    for name in chosen:
        with _lock:
            was_waiting = name in _waiting
            _waiting.discard(name)
        library = targets.get(name)
        if was_waiting and library is not None and library not in sys.modules:
            continue  # never loaded: nothing to undo
        importlib.import_module(available[name].module).uninstrument()
    return chosen
