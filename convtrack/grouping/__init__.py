"""Automatic grouping of chat calls into conversations, from their message history.

Chat APIs resend the whole history on every turn: a request continues the
conversation whose last remembered history (request + answer) is a prefix of it.
``ConversationGrouper.resolve()`` decides before a call, ``remember()`` records
after it; store keys are keyed hashes (HMAC-SHA256) of canonicalised messages.
"""

from __future__ import annotations

from convtrack.grouping._canonical import canonical_bytes, canonical_message
from convtrack.grouping._grouper import ConversationGrouper, Resolution
from convtrack.grouping._items import chat_messages
from convtrack.grouping._roles import role_name
from convtrack.grouping._store import AsyncStore, MemoryStore, Store, StoreHit

__all__ = [
    "AsyncStore",
    "ConversationGrouper",
    "MemoryStore",
    "Resolution",
    "Store",
    "StoreHit",
    "canonical_bytes",
    "canonical_message",
    "chat_messages",
    "role_name",
]
