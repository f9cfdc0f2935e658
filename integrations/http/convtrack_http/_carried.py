"""What leaves the process: the conversation's ids, checked, as headers and W3C baggage members."""

from __future__ import annotations

from typing import NamedTuple

from convtrack.instrumentation import Conversation, RunHandle, current_conversation, current_run

MAX_ID_LENGTH = 128
# The ids a header may carry: letters, digits and . _ : @ / + = - (the convtrack-asgi rule).
_ALLOWED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@/+=-"
_DROP_ALLOWED = str.maketrans("", "", _ALLOWED)

# The baggage members convtrack sends and reads (W3C Baggage: `key=value`, comma-separated).
CONVERSATION_KEY = "convtrack.conversation_id"
USER_KEY = "convtrack.user_id"
PARENT_KEY = "convtrack.parent_run_id"
ROOT_KEY = "convtrack.root_run_id"
# The W3C limits a receiver must accept: beyond them a member may be dropped, so none is added.
BAGGAGE_MAX_MEMBERS = 64
BAGGAGE_MAX_BYTES = 8192


def sendable(value: str | None) -> bool:
    """Whether `value` may go in a header: 1-128 characters of ``[A-Za-z0-9._:@/+=-]``.

    Nothing else is ever sent: no CR/LF (header injection), no spaces, no non-ASCII.
    """
    return (
        value is not None
        and 0 < len(value) <= MAX_ID_LENGTH
        and value.isascii()
        and not value.translate(_DROP_ALLOWED)
    )


class Carried(NamedTuple):
    """The ids an outgoing request carries now (all checked with `sendable`)."""

    conversation_id: str
    user_id: str | None
    members: tuple[tuple[str, str], ...]  # the baggage members, (key, encoded value)
    baggage: str  # the members as a baggage header value


def _encoded(value: str) -> str:
    """A checked id as a baggage value: its characters are baggage octets already, but a
    `+` is escaped since some readers decode it as a space (form encoding)."""
    return value.replace("+", "%2B") if "+" in value else value


def _carried(conv: Conversation | None, run: RunHandle | None, send_user: bool) -> Carried | None:
    if conv is None or not sendable(conv.conversation_id):
        return None
    user = conv.user_id if send_user and sendable(conv.user_id) else None
    members = [(CONVERSATION_KEY, _encoded(conv.conversation_id))]
    if user is not None:
        members.append((USER_KEY, _encoded(user)))
    if run and sendable(run.run_id) and sendable(run.root_run_id):
        members.append((PARENT_KEY, _encoded(run.run_id)))
        members.append((ROOT_KEY, _encoded(run.root_run_id)))
    baggage = ",".join(f"{key}={value}" for key, value in members)
    return Carried(conv.conversation_id, user, tuple(members), baggage)


# The last answer of `carried()`: the requests made in one run ask the same question.
_last: tuple[object, object, bool, Carried | None] = (None, None, False, None)


def carried(send_user_id: bool) -> Carried | None:
    """The current conversation's ids to send, or None outside a conversation.

    A conversation id that could not go in a header is not sent at all (None); a user or
    run id that could not is left out.
    """
    global _last
    conv, run = current_conversation(), current_run()
    last = _last
    if last[0] is conv and last[1] is run and last[2] is send_user_id:
        return last[3]
    found = _carried(conv, run, send_user_id)
    _last = (conv, run, send_user_id, found)
    return found


def merged_baggage(existing: str | None, ids: Carried) -> str | None:
    """`existing` baggage with our members appended, keys already present kept as they are.

    Returns None when nothing is to be added, or when the result would pass the W3C limits
    (64 members, 8192 bytes): then the header is left as the caller set it.
    """
    if not existing:
        return ids.baggage
    present: set[str] = set()
    count = 0
    for member in existing.split(","):
        if member.strip():
            count += 1
            present.add(member.split("=", 1)[0].strip())
    added = [f"{key}={value}" for key, value in ids.members if key not in present]
    if not added or count + len(added) > BAGGAGE_MAX_MEMBERS:
        return None
    value = f"{existing},{','.join(added)}"
    return value if len(value.encode("utf-8", "replace")) <= BAGGAGE_MAX_BYTES else None
