"""Where runs go: the Sink protocol and the built-in sinks."""

from __future__ import annotations

from ._base import Sink
from ._dataset import export_conversations
from ._jsonl import JSONLSink
from ._memory import MemorySink
from ._rows import next_cursor
from ._run_search import next_run_cursor
from ._sqlite import DatabaseError, SQLiteSink
from ._summary import ConversationSummary

__all__ = [
    "ConversationSummary",
    "DatabaseError",
    "JSONLSink",
    "MemorySink",
    "SQLiteSink",
    "Sink",
    "export_conversations",
    "next_cursor",
    "next_run_cursor",
]
