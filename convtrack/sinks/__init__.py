"""Where runs go: the Sink protocol and the built-in sinks."""

from __future__ import annotations

from ._base import Sink
from ._jsonl import JSONLSink
from ._memory import MemorySink
from ._rows import next_cursor
from ._sqlite import DatabaseError, SQLiteSink
from ._summary import ConversationSummary

__all__ = [
    "ConversationSummary",
    "DatabaseError",
    "JSONLSink",
    "MemorySink",
    "SQLiteSink",
    "Sink",
    "next_cursor",
]
