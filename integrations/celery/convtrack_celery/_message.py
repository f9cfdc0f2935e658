"""The `convtrack` task message header: the conversation and the sending run, out and back in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from convtrack.instrumentation import (
    Conversation,
    current_conversation,
    current_run,
    inherit,
    to_jsonable,
)

HEADER = "convtrack"
MAX_ID_LENGTH = 256


class Sent(NamedTuple):
    """What a task message carried: its conversation and the run that sent it (ids or None)."""

    conversation: Conversation | None
    parent_run_id: str | None
    root_run_id: str | None


def outgoing() -> dict[str, Any] | None:
    """The header value for a task sent now: None outside any conversation."""
    conv = current_conversation()
    if conv is None or not conv.conversation_id:
        return None
    value: dict[str, Any] = {"conversation_id": conv.conversation_id}
    if conv.user_id is not None:
        value["user_id"] = conv.user_id
    if conv.agent_id is not None:
        value["agent_id"] = conv.agent_id
    if conv.metadata:
        value["metadata"] = to_jsonable(dict(conv.metadata))
    run = current_run()
    if run:
        value["parent_run_id"] = run.run_id
        value["root_run_id"] = run.root_run_id
    return value


def _id(value: object) -> str | None:
    """A usable id: a non-blank str of at most 256 printable characters, else None."""
    if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH and value.isprintable():
        return value if value.strip() else None
    return None


def incoming(value: object) -> Sent | None:
    """Read a task's `convtrack` header; None when absent or not of the expected shape."""
    if not isinstance(value, Mapping):
        return None
    cid = _id(value.get("conversation_id"))
    if cid is None:
        return None
    metadata = value.get("metadata")
    conv = inherit(
        None,
        cid,
        _id(value.get("user_id")),
        _id(value.get("agent_id")),
        metadata if isinstance(metadata, Mapping) else None,
    )
    parent, root = _id(value.get("parent_run_id")), _id(value.get("root_run_id"))
    if parent is None or root is None:
        parent = root = None
    return Sent(conv, parent, root)
