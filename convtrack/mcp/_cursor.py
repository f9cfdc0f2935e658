"""Cursors bound to the question they page: a cursor of another tool or filter is refused."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from .._json import dumps
from ..sinks._signed import sign, unsign

_KEY = b"convtrack mcp cursor v1"  # a checksum against edited cursors, not a secret


def _question(tool: str, query: Mapping[str, Any]) -> str:
    """A short fingerprint of a tool and its filters (the order of keys does not matter)."""
    text = dumps([tool, sorted(query.items())]).encode()
    return hashlib.blake2b(text, digest_size=9).hexdigest()


def encode(tool: str, query: Mapping[str, Any], position: Any) -> str:
    """A cursor continuing `tool`'s answer to `query` at `position` (any JSON value)."""
    return sign(_KEY, [_question(tool, query), position])


def decode(tool: str, query: Mapping[str, Any], cursor: Any) -> Any:
    """The position of a cursor `encode(tool, query, ...)` made.

    Raises:
        ValueError: a cursor made up or edited, or one from another tool or other filters.
    """
    try:
        question, position = unsign(_KEY, cursor)
    except (ValueError, TypeError):
        raise ValueError("cursor: not a cursor this server gave (edited or cut?)") from None
    if question != _question(tool, query):
        raise ValueError(
            f"cursor: from another query; page {tool} with the same arguments that gave it"
        )
    return position
