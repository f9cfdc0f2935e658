"""Put the conversation on log records: a `logging.Filter` and a structlog processor."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from ._context import get_raw

__all__ = ["ConversationLogFilter", "add_conversation"]


class ConversationLogFilter(logging.Filter):
    """Adds `conversation_id` and `user_id` (None outside a conversation) to every record.

    Example:
        >>> handler.addFilter(ConversationLogFilter())
        >>> logging.Formatter("%(conversation_id)s %(message)s")
    """

    def filter(self, record: logging.LogRecord) -> bool:
        conv = get_raw()
        record.conversation_id = (conv.conversation_id or None) if conv else None
        record.user_id = conv.user_id if conv else None
        return True


def add_conversation(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor adding `conversation_id` and `user_id` when set."""
    conv = get_raw()
    if conv is not None:
        if conv.conversation_id:
            event_dict.setdefault("conversation_id", conv.conversation_id)
        if conv.user_id:
            event_dict.setdefault("user_id", conv.user_id)
    return event_dict
