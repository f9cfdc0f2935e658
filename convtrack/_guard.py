"""The one internal guard: convtrack's own failures are logged, never raised into the app."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

logger = logging.getLogger("convtrack")

P = ParamSpec("P")
T = TypeVar("T")

_INTERVAL = 60.0  # seconds between two log lines about the same trouble
_lock = threading.Lock()
_last: dict[str, float] = {}
_suppressed: dict[str, int] = {}


def report(where: str, exc: BaseException | None = None) -> None:
    """Log a failure of convtrack's own code, at most once a minute per place.

    Args:
        where: a constant description of what failed (used as the rate-limit key).
        exc: the exception, when there is one; its traceback is logged.
    """
    now = time.monotonic()
    with _lock:
        last = _last.get(where)
        if last is not None and now - last < _INTERVAL:
            _suppressed[where] = _suppressed.get(where, 0) + 1
            return
        _last[where] = now
        skipped = _suppressed.pop(where, 0)
    suffix = f" ({skipped} similar failures not logged)" if skipped else ""
    logger.warning("convtrack: %s failed%s", where, suffix, exc_info=exc)


def guarded(where: str, default: T) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorate a convtrack-internal function so that it logs and returns `default` on error."""

    def decorate(fn: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                report(where, exc)
                return default

        return wrapper

    return decorate


def _reset_for_tests() -> None:
    with _lock:
        _last.clear()
        _suppressed.clear()


def missing_dependency(needed_by: str, package: str, install: str) -> ImportError:
    """The one wording of a missing optional dependency, with the line that installs it.

    Example:
        >>> raise missing_dependency("convtrack_openai", "openai", "convtrack-openai") from exc
        ImportError: convtrack_openai needs the 'openai' package: pip install convtrack-openai
    """
    return ImportError(f"{needed_by} needs the {package!r} package: pip install {install}")
