"""Query parameters of the viewer's JSON API, checked and converted (a bad one is a 400)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from ..sinks._query import metadata_from_text
from ..sinks._times import parse_time

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
_FILTERS = (
    "user_id",
    "agent_id",
    "q",
    "since",
    "until",
    "metadata",
    "text",
    "status",
    "before",
    "limit",
    "feedback",
    "ended",
)
_ENDED = {"true": True, "false": False}


class BadRequestError(ValueError):
    """A query parameter the API cannot use; the message says which and why."""


@dataclass(frozen=True)
class ListQuery:
    """What `GET /api/conversations` asks the store for."""

    limit: int = DEFAULT_LIMIT
    user_id: str | None = None
    agent_id: str | None = None
    query: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    metadata: dict[str, str] | None = None
    text: str | None = None
    status: str | None = None
    before: str | None = None
    feedback: str | None = None
    ended: bool | None = None


def parse_since(text: str, now: datetime | None = None, name: str = "since") -> datetime:
    """A point in time from ISO 8601 (naive means UTC) or a span back from now (`15m`, `2h`).

    Args:
        text: `2024-05-01T12:00:00Z`, `2024-05-01`, or a number and one of s, m, h, d, w.
        now: the present, for relative spans (default: the current time).
        name: the parameter's name, for the error message.

    Raises:
        BadRequestError: the text is neither.
    """
    try:
        return parse_time(text, now, name)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None


def parse_limit(text: str) -> int:
    """A page size from 1 to `MAX_LIMIT`.

    Raises:
        BadRequestError: not a whole number in that range.
    """
    try:
        limit = int(text.strip())
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequestError(f"limit: {text!r:.80} is not a whole number from 1 to {MAX_LIMIT}")
    return limit


def parse_ended(text: str) -> bool:
    """`true` (only ended conversations) or `false` (only open ones).

    Raises:
        BadRequestError: anything else.
    """
    found = _ENDED.get(text.strip().lower())
    if found is None:
        raise BadRequestError(f"ended: {text!r:.80} is not true or false")
    return found


def parse_metadata(pairs: list[str]) -> dict[str, str] | None:
    """`key=value` texts (the first `=` splits) as a metadata filter; none given: None.

    Raises:
        BadRequestError: a text without `=` or with an empty key.
    """
    try:
        return metadata_from_text(pairs)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None


def parse_list_query(
    params: Mapping[str, str], now: datetime | None = None, *, multi: list[str] | None = None
) -> ListQuery:
    """The filters of `GET /api/conversations`; empty values count as absent.

    Args:
        params: the query parameters.
        now: the present, for relative times.
        multi: every `metadata` parameter (it may be repeated); default: the one in `params`.

    Raises:
        BadRequestError: an unknown parameter, or a time, limit or metadata it cannot use.
    """
    unknown = sorted(set(params) - set(_FILTERS))
    if unknown:
        raise BadRequestError(
            f"{unknown[0]!r:.80}: unknown parameter (known: {', '.join(_FILTERS)})"
        )

    def text(name: str) -> str | None:
        value = params.get(name)
        return value if value else None

    since, until, limit, ended = text("since"), text("until"), text("limit"), text("ended")
    metadata = multi if multi is not None else [params.get("metadata") or ""]
    return ListQuery(
        limit=DEFAULT_LIMIT if limit is None else parse_limit(limit),
        user_id=text("user_id"),
        agent_id=text("agent_id"),
        query=text("q"),
        since=None if since is None else parse_since(since, now),
        until=None if until is None else parse_since(until, now, "until"),
        metadata=parse_metadata(metadata),
        text=text("text"),
        status=text("status"),
        before=text("before"),
        feedback=text("feedback"),
        ended=None if ended is None else parse_ended(ended),
    )


def cache_key(params: Mapping[str, str], multi: list[str] | None = None) -> str:
    """The filters as one canonical string (other parameters ignored), to cache answers by."""
    key = "\x00".join(f"{name}={params.get(name) or ''}" for name in _FILTERS)
    return key + "\x00" + "\x00".join(sorted(multi or ()))
