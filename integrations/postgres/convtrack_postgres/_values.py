"""Values as PostgreSQL can hold them: its text cannot hold the NUL character, stored as
U+FFFD (in `jsonb`, no `\\u0000` escape either)."""

from __future__ import annotations

import json
from typing import Any

import psycopg

Conn = psycopg.Connection[tuple[Any, ...]]
_NUL = "\x00"


def text(value: Any) -> Any:
    """A value as PostgreSQL can hold it (a NUL character in a string becomes U+FFFD)."""
    if isinstance(value, str) and _NUL in value:
        return value.replace(_NUL, "\ufffd")
    return value


def json_text(encoded: str) -> str:
    """JSON text as `jsonb` can hold it (no `\\u0000` escapes in its strings)."""
    if "\\u0000" not in encoded:
        return encoded
    return json.dumps(without_nul(json.loads(encoded)), ensure_ascii=False)


def without_nul(value: Any) -> Any:
    """A JSON value with each NUL character in its strings (and keys) as U+FFFD."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    if isinstance(value, dict):
        return {text(k): without_nul(v) for k, v in value.items()}
    return value
