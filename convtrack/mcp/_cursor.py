"""Cursors bound to the question they page: a cursor of another tool or filter is refused."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from .._json import dumps, loads

_KEY = b"convtrack mcp cursor v1"  # a checksum against edited cursors, not a secret
MAX_CURSOR = 4000  # characters


def _digest(data: bytes, size: int) -> str:
    found = hmac.new(_KEY, data, hashlib.blake2b).digest()[:size]
    return base64.urlsafe_b64encode(found).decode().rstrip("=")


def _question(tool: str, query: Mapping[str, Any]) -> str:
    """A short fingerprint of a tool and its filters (the order of keys does not matter)."""
    return _digest(dumps([tool, sorted(query.items())]).encode(), 9)


def encode(tool: str, query: Mapping[str, Any], position: Any) -> str:
    """A cursor continuing `tool`'s answer to `query` at `position` (any JSON value)."""
    body = base64.urlsafe_b64encode(dumps([_question(tool, query), position]).encode())
    text = body.decode().rstrip("=")
    return text + "." + _digest(text.encode(), 12)


def decode(tool: str, query: Mapping[str, Any], cursor: Any) -> Any:
    """The position of a cursor `encode(tool, query, ...)` made.

    Raises:
        ValueError: a cursor made up or edited, or one from another tool or other filters.
    """
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR or cursor.count(".") != 1:
        raise ValueError("cursor: not a cursor this server gave (edited or cut?)")
    body, mac = cursor.split(".")
    if not hmac.compare_digest(mac.encode(), _digest(body.encode(), 12).encode()):
        raise ValueError("cursor: not a cursor this server gave (edited or cut?)")
    try:
        question, position = loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError, TypeError):
        raise ValueError("cursor: not a cursor this server gave (edited or cut?)") from None
    if question != _question(tool, query):
        raise ValueError(
            f"cursor: from another query; page {tool} with the same arguments that gave it"
        )
    return position
