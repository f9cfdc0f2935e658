"""Times as people type them: ISO 8601, or a span back from now (`15m`, `2h`, `30d`)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_UTC = timezone.utc
_RELATIVE = re.compile(r"(\d{1,9})\s*([smhdw])", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, now: datetime | None = None, name: str = "since") -> datetime:
    """A point in time from ISO 8601 (naive means UTC) or a span back from now (`15m`, `2h`).

    Args:
        text: `2024-05-01T12:00:00Z`, `2024-05-01`, or a number and one of s, m, h, d, w.
        now: the present, for relative spans (default: the current time).

    Raises:
        ValueError: the text is neither.
    """
    text = text.strip()
    relative = _RELATIVE.fullmatch(text)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2).lower()
        try:
            span = timedelta(**{_UNITS[unit]: amount})
            return (now or datetime.now(_UTC)) - span
        except OverflowError:
            raise ValueError(f"{name}: {text!r:.80} reaches back too far") from None
    iso = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text  # 3.10 has no "Z"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise ValueError(
            f"{name}: {text!r:.80} is neither an ISO 8601 time nor a span such as 15m, 2h or 7d"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=_UTC)


def idle_seconds(idle_timeout: object) -> float:
    """A store's `idle_timeout` (seconds, or a timedelta) as seconds.

    Raises:
        TypeError: neither a number nor a timedelta.
        ValueError: not positive.
    """
    if isinstance(idle_timeout, timedelta):
        idle_timeout = idle_timeout.total_seconds()
    if isinstance(idle_timeout, bool) or not isinstance(idle_timeout, (int, float)):
        raise TypeError(f"idle_timeout must be seconds or a timedelta, got {idle_timeout!r}")
    if not idle_timeout > 0:
        raise ValueError(f"idle_timeout must be positive, got {idle_timeout!r}")
    return float(idle_timeout)
