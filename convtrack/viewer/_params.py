"""Query parameters of the viewer's JSON API, checked and converted (a bad one is a 400)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
_UTC = timezone.utc
_RELATIVE = re.compile(r"(\d{1,9})\s*([smhdw])", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_FILTERS = ("user_id", "agent_id", "q", "since", "limit")


class BadRequest(ValueError):
    """A query parameter the API cannot use; the message says which and why."""


@dataclass(frozen=True)
class ListQuery:
    """What `GET /api/conversations` asks the store for."""

    limit: int = DEFAULT_LIMIT
    user_id: str | None = None
    agent_id: str | None = None
    query: str | None = None
    since: datetime | None = None


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """A point in time from ISO 8601 (naive means UTC) or a span back from now (`15m`, `2h`).

    Args:
        text: `2024-05-01T12:00:00Z`, `2024-05-01`, or a number and one of s, m, h, d, w.
        now: the present, for relative spans (default: the current time).

    Raises:
        BadRequest: the text is neither.
    """
    text = text.strip()
    relative = _RELATIVE.fullmatch(text)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2).lower()
        try:
            span = timedelta(**{_UNITS[unit]: amount})
            return (now or datetime.now(_UTC)) - span
        except OverflowError:
            raise BadRequest(f"since: {text!r} reaches back too far") from None
    iso = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text  # 3.10 has no "Z"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise BadRequest(
            f"since: {text!r} is neither an ISO 8601 time nor a span such as 15m, 2h or 7d"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=_UTC)


def parse_limit(text: str) -> int:
    """A page size from 1 to `MAX_LIMIT`.

    Raises:
        BadRequest: not a whole number in that range.
    """
    try:
        limit = int(text.strip())
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit: {text!r} is not a whole number from 1 to {MAX_LIMIT}")
    return limit


def parse_list_query(params: Mapping[str, str], now: datetime | None = None) -> ListQuery:
    """The filters of `GET /api/conversations`; empty values count as absent.

    Raises:
        BadRequest: `since` or `limit` cannot be used.
    """

    def text(name: str) -> str | None:
        value = params.get(name)
        return value if value else None

    since, limit = text("since"), text("limit")
    return ListQuery(
        limit=DEFAULT_LIMIT if limit is None else parse_limit(limit),
        user_id=text("user_id"),
        agent_id=text("agent_id"),
        query=text("q"),
        since=None if since is None else parse_since(since, now),
    )


def cache_key(params: Mapping[str, str]) -> str:
    """The filters as one canonical string (other parameters ignored), to cache answers by."""
    return "\x00".join(f"{name}={params.get(name) or ''}" for name in _FILTERS)
