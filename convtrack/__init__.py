"""convtrack: which conversation was this? Group LLM app work into conversations.

Example:
    >>> import convtrack as ct
    >>> ct.configure()                      # runs go to ./convtrack.db
    >>> with ct.conversation("conv-42", user_id="user-alice"):
    ...     answer = chat("hello")          # every run inside is tagged conv-42
"""

from __future__ import annotations

from ._context import (
    Conversation,
    current,
    get_conversation_id,
    get_user_id,
    last_conversation_id,
    new_conversation_id,
    reset,
    set_conversation_id,
    set_user_id,
)
from ._events import ConversationEnd, Feedback, end_conversation, feedback
from ._instrument import instrument, uninstrument
from ._runs import Run, RunKind
from ._scope import conversation
from ._setup import configure, flush, shutdown, stats
from ._trace import trace
from .propagation import instrument_threading, propagate, uninstrument_threading
from .sinks import ConversationSummary, JSONLSink, MemorySink, Sink, SQLiteSink

__version__ = "0.1.0"

__all__ = [
    "Conversation",
    "ConversationEnd",
    "ConversationSummary",
    "Feedback",
    "JSONLSink",
    "MemorySink",
    "Run",
    "RunKind",
    "SQLiteSink",
    "Sink",
    "configure",
    "conversation",
    "current",
    "end_conversation",
    "feedback",
    "flush",
    "get_conversation_id",
    "get_user_id",
    "instrument",
    "instrument_threading",
    "last_conversation_id",
    "new_conversation_id",
    "propagate",
    "reset",
    "set_conversation_id",
    "set_user_id",
    "shutdown",
    "stats",
    "trace",
    "uninstrument",
    "uninstrument_threading",
]
