"""Signed page cursors: a JSON value, base64url, and a checksum that refuses edited ones."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

from .._json import dumps, loads

MAX_CURSOR = 40_000  # characters


def _mac(key: bytes, body: str) -> str:
    digest = hmac.new(key, body.encode(), hashlib.blake2b).digest()[:12]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(key: bytes, value: Any) -> str:
    """`value` (any JSON) as a cursor checked with `key` (a checksum, not a secret)."""
    body = base64.urlsafe_b64encode(dumps(value).encode()).decode().rstrip("=")
    return body + "." + _mac(key, body)


def unsign(key: bytes, cursor: Any) -> Any:
    """The value of a cursor `sign(key, ...)` made.

    Raises:
        ValueError: not such a cursor (edited, cut, made up, or signed with another key).
    """
    bad = ValueError("not a cursor from a previous page (edited or cut?)")
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR or cursor.count(".") != 1:
        raise bad
    body, mac = cursor.split(".")
    if not hmac.compare_digest(mac.encode(), _mac(key, body).encode()):
        raise bad
    try:
        return loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError, TypeError):
        raise bad from None
