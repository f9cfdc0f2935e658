"""Where runs go: the Sink protocol and the built-in sinks.

Besides the sinks, the parts a store outside the core is built from (`convtrack-postgres`
keeps the same summaries, rows and cursors as `SQLiteSink` through them): what a run adds to
its conversation (`facts_of`, `ConversationTotals`), the rows of runs and summaries, tokens
and prices, the checked filters and the page cursor; and `open_store`, a store by path or URL.
"""

from __future__ import annotations

from ._base import Sink
from ._dataset import export_conversations
from ._feedback import feedback_filter
from ._feedback import feedback_of as feedback_from_row
from ._jsonl import JSONLSink
from ._memory import MemorySink
from ._open import open_store
from ._prices import cost_nanos
from ._query import (
    check_ended,
    check_limit,
    check_status,
    decode_cursor,
    feedback_key,
    id_filter,
    metadata_pairs,
    text_filter,
)
from ._query import micros as time_filter
from ._rows import next_cursor
from ._rows import row_of as run_row
from ._rows import run_of as run_from_row
from ._rows import summary_of as summary_from_row
from ._run_search import SearchDialect, next_run_cursor, run_filters
from ._sqlite import DatabaseError, SQLiteSink
from ._summary import ConversationSummary, RunFacts, facts_of, order_key
from ._times import idle_seconds
from ._totals import Totals as ConversationTotals
from ._usage import Tokens, tokens_of

__all__ = [
    "ConversationSummary",
    "ConversationTotals",
    "DatabaseError",
    "JSONLSink",
    "MemorySink",
    "RunFacts",
    "SQLiteSink",
    "SearchDialect",
    "Sink",
    "Tokens",
    "check_ended",
    "check_limit",
    "check_status",
    "cost_nanos",
    "decode_cursor",
    "export_conversations",
    "facts_of",
    "feedback_filter",
    "feedback_from_row",
    "feedback_key",
    "id_filter",
    "idle_seconds",
    "metadata_pairs",
    "next_cursor",
    "next_run_cursor",
    "open_store",
    "order_key",
    "run_filters",
    "run_from_row",
    "run_row",
    "summary_from_row",
    "text_filter",
    "time_filter",
    "tokens_of",
]
