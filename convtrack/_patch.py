"""Undoable monkey patches (wrapt): the one way convtrack patches other libraries."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

import wrapt

from ._guard import logger

# (owner, attribute name) -> the wrapt FunctionWrapper convtrack installed there
_installed: dict[tuple[int, str], Any] = {}
_lock = threading.Lock()


def _current(owner: Any, name: str) -> Any:
    return owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name, None)


def patch(owner: Any, name: str, wrapper: Callable[..., Any]) -> bool:
    """Wrap `owner.name` with a wrapt `wrapper(wrapped, instance, args, kwargs)`.

    Returns False (and changes nothing) when convtrack wrapped it already: patching twice is safe.
    """
    key = (id(owner), name)
    with _lock:
        if key in _installed and _current(owner, name) is _installed[key]:
            return False
        wrapt.wrap_function_wrapper(owner, name, wrapper)
        _installed[key] = _current(owner, name)
    return True


def unpatch(owner: Any, name: str) -> bool:
    """Restore what `patch()` wrapped; False when convtrack had not wrapped it."""
    key = (id(owner), name)
    with _lock:
        ours = _installed.get(key)
        if ours is None:
            return False
        if _current(owner, name) is not ours:  # someone wrapped on top of us: leave theirs intact
            logger.warning(
                "convtrack: cannot undo its patch of %s.%s: another library wrapped it since",
                getattr(owner, "__qualname__", owner),
                name,
            )
            return False
        setattr(owner, name, ours.__wrapped__)
        del _installed[key]
    return True


def is_patched(owner: Any, name: str) -> bool:
    """Whether convtrack's wrapper is on `owner.name`."""
    ours = _installed.get((id(owner), name))
    return ours is not None and _current(owner, name) is ours


# (module, class, method, wrapt wrapper); class "" wraps a function of the module itself
Target = tuple[str, str, str, Callable[..., Any]]


class Patches:
    """The methods one integration patches, applied and removed together.

    Methods a library version does not have are skipped (and logged at debug level).
    `switch`, when given, is any object with a bool `on`: turned on after patching and off
    before unpatching, so wrappers a library still holds pass straight through once removed.
    """

    def __init__(self, library: str, targets: list[Target], switch: Any = None) -> None:
        self.library = library
        self.targets = targets
        self.switch = switch
        self._lock = threading.Lock()

    def _owners(self) -> list[tuple[Any, str, Callable[..., Any]]]:
        found = []
        for module_name, class_name, method, wrapper in self.targets:
            module = importlib.import_module(module_name)
            owner = getattr(module, class_name, None) if class_name else module
            if owner is None or not callable(getattr(owner, method, None)):
                logger.debug(
                    "convtrack: %s has no %s.%s: not instrumented", self.library, class_name, method
                )
                continue
            found.append((owner, method, wrapper))
        return found

    def apply(self) -> None:
        """Patch every target (those patched already stay as they are)."""
        with self._lock:
            for owner, method, wrapper in self._owners():
                patch(owner, method, wrapper)
            if self.switch is not None:
                self.switch.on = True

    def remove(self) -> None:
        """Undo `apply()`."""
        with self._lock:
            if self.switch is not None:
                self.switch.on = False
            for owner, method, _ in self._owners():
                unpatch(owner, method)
