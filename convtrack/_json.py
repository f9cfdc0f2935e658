"""JSON for anything a run may carry: never raises, never emits invalid JSON."""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any
from uuid import UUID

import orjson

_MAX_DEPTH = 64
_OPTIONS = orjson.OPT_NON_STR_KEYS


def _default(obj: Any) -> Any:
    """json's hook for values it does not know."""
    return to_jsonable(obj, 0)


def to_jsonable(obj: Any, depth: int = 0) -> Any:
    """Convert `obj` into plain JSON types (dict with str keys, list, str, finite numbers...)."""
    if isinstance(obj, str):
        try:
            obj.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: keep them visible as escapes
            return obj.encode("utf-8", "backslashreplace").decode("utf-8")
        return obj
    if obj is None or isinstance(obj, bool):
        return obj
    if isinstance(obj, int):
        return obj if -(2**63) <= obj < 2**64 else str(obj)  # JSON tools choke on bigger ones
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None  # as JSON.stringify does
    if depth > _MAX_DEPTH:
        return "<too deep>"
    depth += 1
    if isinstance(obj, Mapping):
        return {_key(k): to_jsonable(v, depth) for k, v in list(obj.items())}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v, depth) for v in obj]
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).decode("utf-8", "backslashreplace")
    if isinstance(obj, (datetime, date, time)):
        return obj.isoformat()
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value, depth)
    if isinstance(obj, UUID):
        return str(obj)
    try:
        dump = getattr(obj, "model_dump", None)  # pydantic models (SDK objects)
        if callable(dump):
            return to_jsonable(dump(), depth)
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return {
                f.name: to_jsonable(getattr(obj, f.name, None), depth)
                for f in dataclasses.fields(obj)
            }
        return _safe_repr(obj)
    except Exception:
        return _safe_repr(obj)


def _key(key: Any) -> str:
    return key if isinstance(key, str) else str(to_jsonable(key, _MAX_DEPTH))


def _safe_repr(obj: Any) -> str:
    try:
        text = repr(obj)
    except Exception:
        return f"<{type(obj).__qualname__} object>"
    return text if len(text) <= 1000 else text[:1000] + "..."


def dumps(obj: Any) -> str:
    """Serialise anything to JSON text: unknown values become strings, NaN/infinity null.

    orjson handles the common case fast; cycles, lone surrogates and odd keys take the
    careful path, which never raises.
    """
    try:
        return orjson.dumps(obj, default=_default, option=_OPTIONS).decode()
    except (TypeError, ValueError, RecursionError):
        try:
            return orjson.dumps(to_jsonable(obj)).decode()
        except Exception:  # to_jsonable's output is plain data; this is the last line
            return orjson.dumps(_safe_repr(obj)).decode()


def loads(text: str | bytes | None) -> Any:
    """Parse JSON text written by `dumps` (None stays None)."""
    return None if text is None else orjson.loads(text)
