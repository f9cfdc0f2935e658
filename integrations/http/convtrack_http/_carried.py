"""What leaves the process: the conversation's ids, checked, as headers and W3C baggage members."""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import quote

from convtrack.instrumentation import current_conversation, current_run

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
    parent_run_id: str | None
    root_run_id: str | None

    def members(self) -> list[tuple[str, str]]:
        """The baggage members, as `(key, value)`."""
        found = [(CONVERSATION_KEY, self.conversation_id)]
        if self.user_id is not None:
            found.append((USER_KEY, self.user_id))
        if self.parent_run_id is not None and self.root_run_id is not None:
            found.append((PARENT_KEY, self.parent_run_id))
            found.append((ROOT_KEY, self.root_run_id))
        return found


def carried(send_user_id: bool) -> Carried | None:
    """The current conversation's ids to send, or None outside a conversation.

    A conversation id that could not go in a header is not sent at all (None); a user or
    run id that could not is left out.
    """
    conv = current_conversation()
    if conv is None or not sendable(conv.conversation_id):
        return None
    user = conv.user_id if send_user_id and sendable(conv.user_id) else None
    run = current_run()
    parent = root = None
    if run and sendable(run.run_id) and sendable(run.root_run_id):
        parent, root = run.run_id, run.root_run_id
    return Carried(conv.conversation_id, user, parent, root)


def merged_baggage(existing: str | None, members: list[tuple[str, str]]) -> str | None:
    """`existing` baggage with `members` appended, keys already present kept as they are.

    Returns None when nothing is to be added, or when the result would pass the W3C limits
    (64 members, 8192 bytes): then the header is left as the caller set it.
    """
    present: set[str] = set()
    count = 0
    if existing:
        for member in existing.split(","):
            if member.strip():
                count += 1
                present.add(member.split("=", 1)[0].strip())
    added = [f"{key}={quote(value, safe='')}" for key, value in members if key not in present]
    if not added or count + len(added) > BAGGAGE_MAX_MEMBERS:
        return None
    value = ",".join(added) if not existing else f"{existing},{','.join(added)}"
    return value if len(value.encode("utf-8", "replace")) <= BAGGAGE_MAX_BYTES else None
