"""Instrumentor: the base class of an integration that patches a library."""

from __future__ import annotations

import threading

from .._patch import Patches, Target


class Instrumentor:
    """An integration's `instrument()`/`uninstrument()`/`is_instrumented()`, each safe twice.

    Subclasses name the methods they wrap (`targets()`); every patch goes through one
    `Patches` helper (wrapt, undoable). Work beyond patching goes in `_on_instrument()` /
    `_on_uninstrument()`.

    Example:
        >>> class MyInstrumentor(Instrumentor):
        ...     library = "mylib"
        ...     def targets(self):
        ...         return [("mylib.client", "Client", "call", my_wrapper)]
        >>> _instrumentor = MyInstrumentor()
        >>> instrument = _instrumentor.instrument
    """

    library = ""  # the import name of the library instrumented
    switch: object | None = None  # an object with a bool `on`, turned on while instrumented

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._patches: Patches | None = None
        self._on = False

    def targets(self) -> list[Target]:
        """The methods to wrap: `(module, class, method, wrapt_wrapper)` tuples."""
        return []

    def instrument(self) -> None:
        """Turn the instrumentation on (nothing happens when it is on already)."""
        with self._lock:
            if self._on:
                return
            if self._patches is None:
                self._patches = Patches(self.library, self.targets(), self.switch)
            self._patches.apply()
            self._on_instrument()
            self._on = True

    def uninstrument(self) -> None:
        """Turn it off and undo every patch (nothing happens when it is off)."""
        with self._lock:
            if not self._on:
                return
            self._on = False
            self._on_uninstrument()
            if self._patches is not None:
                self._patches.remove()

    def is_instrumented(self) -> bool:
        """Whether `instrument()` is in force."""
        return self._on

    def _on_instrument(self) -> None:
        """Work beyond patching, done by `instrument()` after the patches."""

    def _on_uninstrument(self) -> None:
        """Undo `_on_instrument()`, done by `uninstrument()` before the patches come off."""
