"""The SQLite store's schema (version 3).

Version 1 held the runs only; version 2 adds a row per conversation kept up to date as runs
are written, an index of metadata key/values, a full-text index of message text (SQLite
FTS5, where this SQLite has it: one document per conversation and write batch, its runs'
text, `search_documents` saying whose), a `feedback` table (feedback records) and each
conversation's `ended_at` (set by a conversation-end record). Version 3 indexes runs by what
is asked of them: version 2's index of every LLM run by its parent gives way to a table of
the LLM runs whose parent was not written yet (`llm_runs_awaiting_parent`: the only ones a
later run can nest, usually none), version 1's index of runs by user goes (the
conversations' own index answers "by user"; no query read it since version 2), and an index
by start time serves the runs search. An older file is migrated in place, once, in one
transaction (`_migrate.py`).
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 3
RUNS = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    parent_run_id TEXT,
    root_run_id TEXT NOT NULL,
    conversation_id TEXT,
    user_id TEXT,
    agent_id TEXT,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    grouping TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    model TEXT,
    inputs TEXT,
    outputs TEXT,
    usage TEXT,
    metadata TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_conversation ON runs (conversation_id, started_at);
"""
# What versions 2 and 3 add to version 1's runs: an index of runs by start (the runs search,
# newest first), the conversations' rows and indexes, feedback, search documents, and the LLM
# runs awaiting their parent.
ADDED = """
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_at DESC);
CREATE TABLE IF NOT EXISTS conversations (
    conversation_id TEXT PRIMARY KEY,
    user_id TEXT,
    agent_id TEXT,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    run_count INTEGER NOT NULL,
    llm_count INTEGER NOT NULL,
    inferred INTEGER NOT NULL,
    error_count INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_nanos INTEGER NOT NULL,
    priced_count INTEGER NOT NULL,
    first_input TEXT,
    first_input_key TEXT,
    last_output TEXT,
    last_output_key TEXT,
    tools TEXT NOT NULL,
    metadata TEXT NOT NULL,
    ended_at INTEGER
);
CREATE INDEX IF NOT EXISTS conversations_by_last
    ON conversations (last_at DESC, conversation_id);
CREATE INDEX IF NOT EXISTS conversations_by_user
    ON conversations (user_id, last_at DESC, conversation_id);
CREATE INDEX IF NOT EXISTS conversations_by_agent
    ON conversations (agent_id, last_at DESC, conversation_id);
CREATE INDEX IF NOT EXISTS conversations_with_errors
    ON conversations (last_at DESC, conversation_id) WHERE error_count > 0;
CREATE INDEX IF NOT EXISTS conversations_ended
    ON conversations (last_at DESC, conversation_id) WHERE ended_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS conversation_metadata (
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    PRIMARY KEY (key, value, conversation_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS conversation_metadata_by_conversation
    ON conversation_metadata (conversation_id);
CREATE TABLE IF NOT EXISTS feedback (
    feedback_id TEXT PRIMARY KEY,
    conversation_id TEXT,
    run_id TEXT,
    key TEXT NOT NULL,
    score REAL,
    value TEXT,
    comment TEXT,
    created_at INTEGER NOT NULL,
    user_id TEXT
);
CREATE INDEX IF NOT EXISTS feedback_by_conversation ON feedback (conversation_id, key);
CREATE INDEX IF NOT EXISTS feedback_by_key ON feedback (key, conversation_id);
CREATE INDEX IF NOT EXISTS feedback_by_run ON feedback (run_id) WHERE run_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS search_documents (
    document_id INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS search_documents_by_conversation
    ON search_documents (conversation_id);
CREATE TABLE IF NOT EXISTS llm_runs_awaiting_parent (
    parent_run_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cost_nanos INTEGER,
    PRIMARY KEY (parent_run_id, run_id)
) WITHOUT ROWID;
"""
SEARCH = "CREATE VIRTUAL TABLE IF NOT EXISTS search_text USING fts5(body)"


def fts5_available(conn: sqlite3.Connection) -> bool:
    """Whether this SQLite has the FTS5 full-text module."""
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.convtrack_probe USING fts5(x)")
    except sqlite3.OperationalError:
        return False
    conn.execute("DROP TABLE temp.convtrack_probe")
    return True


def has_search_table(conn: sqlite3.Connection) -> bool:
    """Whether the store has its full-text index and this SQLite can use it."""
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_text'"
    ).fetchone()
    return found is not None and fts5_available(conn)


def create(conn: sqlite3.Connection) -> None:
    """Create the tables and indexes that are missing (no data; inside the
    caller's transaction)."""
    _script(conn, RUNS)
    _script(conn, ADDED)
    if fts5_available(conn):
        conn.execute(SEARCH)


def is_complete(conn: sqlite3.Connection) -> bool:
    """Whether a version-2 store has the feedback columns and indexes of this convtrack (a
    store written before feedback was recorded lacks `feedback.user_id` and three indexes)."""
    columns = {r[1] for r in conn.execute("PRAGMA table_info(feedback)")}
    return "user_id" in columns


def complete(conn: sqlite3.Connection) -> None:
    """Add what `is_complete` finds missing (inside the caller's transaction; no data lost)."""
    if not is_complete(conn):
        conn.execute("ALTER TABLE feedback ADD COLUMN user_id TEXT")
    _script(conn, ADDED)


def _script(conn: sqlite3.Connection, script: str) -> None:
    """Run `;`-separated statements one by one (executescript would commit the transaction)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)
