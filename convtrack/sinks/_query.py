"""`conversations()` filters, checked and turned into one parameterised query.

Every value a caller gives travels as an SQL parameter, never as SQL text. A filter that
cannot be used raises `ValueError` saying which and why (the viewer's API answers 400).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .._json import dumps, loads
from ._summary import MAX_METADATA_KEY, MAX_METADATA_VALUE, metadata_text

STATUSES = ("error", "ok")
MAX_TEXT = 1000  # characters of a search text
MAX_ID = 10_000  # characters of an id filter
_CURSOR_KEY = b"convtrack cursor v1"  # a checksum against edited cursors, not a secret
_UTC = timezone.utc


@dataclass(frozen=True)
class Filters:
    """Checked filters of `conversations()`, as SQL conditions and their parameters."""

    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)


def _text(name: str, value: Any, limit: int = MAX_ID) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected a string, got {type(value).__name__}")
    if len(value) > limit:
        raise ValueError(f"{name}: longer than {limit} characters")
    return value


def id_filter(name: str, value: Any) -> str | None:
    """An id filter (`user_id`, `agent_id`, `query`) checked: None or a string."""
    return _text(name, value)


def text_filter(value: Any) -> str | None:
    """The `text` filter checked: None or a string of at most `MAX_TEXT` characters."""
    return _text("text", value, MAX_TEXT)


def check_limit(limit: Any) -> None:
    """Raise ValueError unless `limit` is None or a whole number of at least 1."""
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ValueError(f"limit: expected a whole number of at least 1, got {limit!r:.80}")


def check_ended(ended: Any) -> None:
    """Raise ValueError unless `ended` is None, True or False."""
    if ended is not None and not isinstance(ended, bool):
        raise ValueError(f"ended: expected True or False, got {ended!r:.80}")


def feedback_key(feedback: Any) -> str:
    """The `feedback` filter checked: a non-empty key of at most `MAX_METADATA_KEY` characters
    (what `convtrack.feedback()` takes)."""
    wanted = _text("feedback", feedback, MAX_METADATA_KEY)
    if not wanted:
        raise ValueError("feedback: expected a non-empty feedback key")
    return wanted


def check_status(status: Any) -> None:
    """Raise ValueError unless `status` is None or one of `STATUSES`."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"status: {status!r:.80} is not one of {', '.join(STATUSES)}")


def micros(name: str, value: Any) -> int:
    """A datetime filter as microseconds since the epoch (naive means UTC)."""
    if not isinstance(value, datetime):
        raise ValueError(f"{name}: expected a datetime, got {type(value).__name__}")
    moment = value if value.tzinfo else value.replace(tzinfo=_UTC)
    try:
        return int(moment.timestamp() * 1_000_000)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{name}: {value!r} is out of range") from None


def metadata_pairs(metadata: Any) -> list[tuple[str, str]]:
    """The (key, value) pairs of a metadata filter, values as the index holds them."""
    if not isinstance(metadata, Mapping):
        raise ValueError(f"metadata: expected a mapping of key to value, got {metadata!r:.80}")
    pairs = []
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or len(key) > MAX_METADATA_KEY:
            raise ValueError(
                f"metadata: keys are non-empty strings of at most {MAX_METADATA_KEY} characters,"
                f" got {key!r:.80}"
            )
        text = metadata_text(value)
        if text is None:
            raise ValueError(
                f"metadata: the value of {key!r:.80} must be a string, number, boolean or None"
                f" of at most {MAX_METADATA_VALUE} characters"
            )
        pairs.append((key, text))
    return pairs


def metadata_from_text(pairs: list[str]) -> dict[str, str] | None:
    """`key=value` texts (the first `=` splits; empty ones skipped) as a metadata filter.

    Raises:
        ValueError: a text without `=` or with an empty key.
    """
    found: dict[str, str] = {}
    for pair in pairs:
        if not pair:
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"metadata: {pair!r:.80} is not key=value")
        found[key] = value
    return found or None


def fts_phrase(text: str) -> str:
    """`text` as one literal FTS5 phrase: operators and quotes in it mean nothing."""
    return '"' + text.replace('"', '""').replace("\x00", " ") + '"'


def encode_cursor(last_at: int, conversation_id: str) -> str:
    """The `before=` cursor that continues after this conversation."""
    body = base64.urlsafe_b64encode(dumps([last_at, conversation_id]).encode()).decode()
    return body.rstrip("=") + "." + _mac(body.rstrip("="))


def decode_cursor(cursor: Any) -> tuple[int, str]:
    """The position a cursor from `encode_cursor` names.

    Raises:
        ValueError: not a cursor this store made (edited, cut, or made up).
    """
    bad = ValueError("before: not a cursor from a previous page (edited or cut?)")
    if not isinstance(cursor, str) or len(cursor) > 4 * MAX_ID or cursor.count(".") != 1:
        raise bad
    body, mac = cursor.split(".")
    if not hmac.compare_digest(mac.encode(), _mac(body).encode()):
        raise bad
    try:
        last_at, conversation_id = loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError, TypeError):
        raise bad from None
    if not isinstance(last_at, int) or not isinstance(conversation_id, str):
        raise bad
    return last_at, conversation_id


def _mac(body: str) -> str:
    digest = hmac.new(_CURSOR_KEY, body.encode(), hashlib.blake2b).digest()[:12]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def filters(
    *,
    user_id: Any = None,
    agent_id: Any = None,
    since: Any = None,
    until: Any = None,
    query: Any = None,
    metadata: Any = None,
    text: Any = None,
    status: Any = None,
    before: Any = None,
    feedback: Any = None,
    ended: Any = None,
    idle_before: int = 0,
    search: bool = True,
) -> Filters:
    """The checked filters as SQL over `conversations AS c` (see `SQLiteSink.conversations`).

    `ended` counts a conversation last active before `idle_before` (microseconds) as ended.

    Raises:
        ValueError: a filter of the wrong type, an unknown status, a bad cursor.
    """
    found = Filters()
    where, params = found.where, found.params
    for column, value in (("user_id", user_id), ("agent_id", agent_id)):
        if id_filter(column, value) is not None:
            where.append(f"c.{column} = ?")
            params.append(value)
    if since is not None:
        where.append("c.last_at >= ?")
        params.append(micros("since", since))
    if until is not None:
        where.append("c.last_at < ?")
        params.append(micros("until", until))
    if id_filter("query", query):
        where.append("instr(c.conversation_id, ?) > 0")
        params.append(query)
    if status is not None:
        check_status(status)
        where.append("c.error_count > 0" if status == "error" else "c.error_count = 0")
    check_ended(ended)
    if ended is not None:
        if ended:
            where.append("(c.ended_at IS NOT NULL OR c.last_at < ?)")
        else:
            where.append("c.ended_at IS NULL AND c.last_at >= ?")
        params.append(idle_before)
    if before is not None:
        last_at, conversation_id = decode_cursor(before)
        where.append("(c.last_at < ? OR (c.last_at = ? AND c.conversation_id > ?))")
        params.extend((last_at, last_at, conversation_id))
    subqueries: list[tuple[str, list[Any]]] = []
    if metadata is not None:
        for key, value in metadata_pairs(metadata):
            subqueries.append(
                (
                    "SELECT conversation_id FROM conversation_metadata WHERE key = ? AND value = ?",
                    [key, value],
                )
            )
    if feedback is not None:
        subqueries.append(
            ("SELECT conversation_id FROM feedback WHERE key = ?", [feedback_key(feedback)])
        )
    needle = text_filter(text)
    if needle is not None and needle.strip():
        if search:
            subqueries.append(
                (
                    "SELECT d.conversation_id FROM search_text JOIN search_documents AS d"
                    " ON d.document_id = search_text.rowid WHERE search_text MATCH ?",
                    [fts_phrase(needle)],
                )
            )
        else:  # no FTS5 here: a plain substring scan of the runs' text (slow, but it answers)
            subqueries.append(
                (
                    "SELECT conversation_id FROM runs WHERE conversation_id IS NOT NULL AND"
                    " (instr(lower(inputs), lower(?)) > 0 OR instr(lower(outputs), lower(?)) > 0)",
                    [needle, needle],
                )
            )
    for sql, values in subqueries:
        where.append(f"c.conversation_id IN ({sql})")
        params.extend(values)
    return found
