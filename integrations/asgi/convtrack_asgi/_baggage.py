"""W3C `baggage`: the conversation and the calling run another convtrack service sent.

`convtrack-http` (or any client) sends `convtrack.conversation_id`, and for the run that made
the call `convtrack.parent_run_id` and `convtrack.root_run_id`, as baggage members. A header
past the W3C limits (64 members, 8192 bytes), with a convtrack member given twice, badly
percent-encoded or not a valid id, is ignored as a whole (the caller warns).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple
from urllib.parse import unquote_to_bytes

from ._http import ALLOWED, MAX_LENGTH

BAGGAGE = b"baggage"
MAX_BYTES = 8192
MAX_MEMBERS = 64
CONVERSATION = b"convtrack.conversation_id"
PARENT = b"convtrack.parent_run_id"
ROOT = b"convtrack.root_run_id"
_OURS = frozenset({CONVERSATION, PARENT, ROOT})
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


class Caller(NamedTuple):
    """What the baggage carried: the conversation id (raw, checked by the middleware's rule)
    and the calling run (parent, root), each None when absent."""

    conversation: bytes | None
    parent_run_id: str | None
    root_run_id: str | None


NOTHING = Caller(None, None, None)


def read_baggage(values: Sequence[bytes]) -> Caller | None:
    """The convtrack members of the request's baggage header(s); None when hostile."""
    if sum(len(value) + 1 for value in values) > MAX_BYTES + 1:
        return None
    members = b",".join(values).split(b",")
    if len(members) > MAX_MEMBERS:
        return None
    found: dict[bytes, bytes] = {}
    for member in members:
        key, sep, rest = member.partition(b"=")
        key = key.strip()
        if key not in _OURS:
            continue
        if not sep or key in found:
            return None  # ours without a value, or given twice
        value = rest.split(b";", 1)[0].strip()  # properties are not ours to read
        if b"%" in value:
            if _BAD_ESCAPE.search(value):
                return None
            value = unquote_to_bytes(value)
        found[key] = value
    if not found:
        return NOTHING
    parent, root = found.get(PARENT), found.get(ROOT)
    if (parent is None) != (root is None):
        return None
    if parent is not None and root is not None:
        if not (_run_id(parent) and _run_id(root)):
            return None
        return Caller(found.get(CONVERSATION), parent.decode("ascii"), root.decode("ascii"))
    return Caller(found.get(CONVERSATION), None, None)


def _run_id(raw: bytes) -> bool:
    """Whether a run id passes the default id rule (1-128 of the header alphabet)."""
    return 0 < len(raw) <= MAX_LENGTH and not raw.translate(None, ALLOWED)
