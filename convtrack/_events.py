"""Records that are not runs: feedback on a conversation or a run, and a conversation's end.

`feedback()` and `end_conversation()` check their arguments (a mistake in them is the
caller's: TypeError or ValueError), build a frozen record and hand it to the pipeline, which
carries it to every sink that takes events (`export_events`), in order with the runs.
Before `configure()` they do nothing, like runs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Union

from . import _config
from ._context import check_id, check_optional_id, current, new_conversation_id
from ._guard import report
from ._json import to_jsonable

MAX_KEY = 200  # characters of a feedback key


@dataclass(frozen=True)
class Feedback:
    """A judgment on a conversation or one of its runs (a thumbs up, a score, a label, a note).

    `feedback_id` is a uuid7 string; `score` a number, `value` any JSON value, `comment`
    text; `user_id` is the current conversation's user when the feedback is on it.
    """

    feedback_id: str
    conversation_id: str | None
    run_id: str | None
    key: str
    score: float | None
    value: Any
    comment: str | None
    user_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class ConversationEnd:
    """The application said that a conversation is over (`end_conversation()`)."""

    conversation_id: str
    ended_at: datetime


Event = Union[Feedback, ConversationEnd]  # noqa: UP007 - a runtime alias on Python 3.10 too


def _target(conversation_id: str | None, what: str) -> str | None:
    """The conversation named, or the current one (None when there is neither)."""
    check_optional_id(conversation_id, what)
    if conversation_id is not None:
        return conversation_id
    conv = current()
    return None if conv is None else conv.conversation_id


def _check_feedback(key: object, score: object, value: object, comment: object) -> None:
    if not isinstance(key, str):
        raise TypeError(f"feedback key must be a str, got {type(key).__name__}: {key!r:.80}")
    if not key.strip() or len(key) > MAX_KEY:
        raise ValueError(f"feedback key must be a non-empty str of at most {MAX_KEY} characters")
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise TypeError(f"feedback score must be a number or None, got {score!r:.80}")
        if not math.isfinite(score):
            raise ValueError(f"feedback score must be a finite number, got {score!r}")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise TypeError(
            "feedback value must be JSON-able (str, number, bool, None, lists and dicts with"
            f" str keys), got {type(value).__name__}"
        ) from None
    if comment is not None and not isinstance(comment, str):
        raise TypeError(f"feedback comment must be a str or None, got {type(comment).__name__}")


def feedback(
    conversation_id: str | None = None,
    *,
    run_id: str | None = None,
    key: str,
    score: float | None = None,
    value: Any = None,
    comment: str | None = None,
) -> Feedback | None:
    """Record feedback on a conversation (by default the current one) or on one of its runs.

    Example:
        >>> convtrack.feedback(key="thumbs", score=1)             # the current conversation
        >>> convtrack.feedback("conv-42", key="label", value="refund", comment="wrong answer")

    Args:
        conversation_id: the conversation; None: the current one.
        run_id: the run the feedback is about (feedback on a run alone, outside any
            conversation, is allowed).
        key: what is judged (`"thumbs"`, `"correct"`, ...), a non-empty str.
        score: a number (not a bool), or None.
        value: any JSON value (a label, a dict of details), or None.
        comment: free text, or None.

    Returns:
        The record handed to the sinks; None before `configure()` (nothing is recorded).

    Raises:
        TypeError: an argument of the wrong type.
        ValueError: no conversation given, none current, and no `run_id`; an empty key.
    """
    target = _target(conversation_id, "conversation_id")
    record = make_feedback(target, run_id, key, score, value, comment, user_id=None)
    recorder = _config.current
    if recorder is None:
        return None
    try:
        conv = current()
        if conv is not None and conv.conversation_id == target and conv.user_id is not None:
            record = replace(record, user_id=conv.user_id)
        recorder.emit_event(record)
    except Exception as exc:
        report("recording feedback", exc)
        return None
    return record


def make_feedback(
    conversation_id: str | None,
    run_id: str | None,
    key: object,
    score: object = None,
    value: object = None,
    comment: object = None,
    *,
    user_id: str | None = None,
) -> Feedback:
    """A checked `Feedback` record (what `feedback()` and the viewer's API record).

    Raises:
        TypeError: an argument of the wrong type.
        ValueError: neither a conversation nor a run; an empty or too long key; a score
            that is not finite.
    """
    check_optional_id(conversation_id, "conversation_id")
    check_optional_id(run_id, "run_id")
    _check_feedback(key, score, value, comment)
    if conversation_id is None and run_id is None:
        raise ValueError(
            "feedback(): no conversation_id given and no current conversation (or pass run_id=)"
        )
    return Feedback(
        feedback_id=new_conversation_id(),
        conversation_id=conversation_id,
        run_id=run_id,
        key=key,  # type: ignore[arg-type]  # checked above
        score=None if score is None else float(score),  # type: ignore[arg-type]
        value=value,
        comment=comment,  # type: ignore[arg-type]
        user_id=user_id,
        created_at=datetime.now(timezone.utc),
    )


def end_conversation(conversation_id: str | None = None) -> ConversationEnd | None:
    """Record that a conversation (by default the current one) is over.

    Readers then count it as ended (`SQLiteSink.conversations(ended=True)`), as they do a
    conversation idle past the store's `idle_timeout`.

    Returns:
        The record handed to the sinks; None before `configure()` (nothing is recorded).

    Raises:
        TypeError: `conversation_id` is not a str.
        ValueError: no conversation given and none current.
    """
    target = _target(conversation_id, "conversation_id")
    if target is None:
        raise ValueError("end_conversation(): no conversation_id given and no current conversation")
    check_id(target, "conversation_id")
    recorder = _config.current
    if recorder is None:
        return None
    try:
        record = ConversationEnd(conversation_id=target, ended_at=datetime.now(timezone.utc))
        recorder.emit_event(record)
    except Exception as exc:
        report("recording the end of a conversation", exc)
        return None
    return record


def event_to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready dict of an event, `"record"` saying which kind (`feedback`,
    `conversation_end`); times as ISO 8601 UTC."""
    if isinstance(event, ConversationEnd):
        return {
            "record": "conversation_end",
            "conversation_id": event.conversation_id,
            "ended_at": event.ended_at.isoformat(),
        }
    return {
        "record": "feedback",
        "feedback_id": event.feedback_id,
        "conversation_id": event.conversation_id,
        "run_id": event.run_id,
        "key": event.key,
        "score": event.score,
        "value": to_jsonable(event.value),
        "comment": event.comment,
        "user_id": event.user_id,
        "created_at": event.created_at.isoformat(),
    }
