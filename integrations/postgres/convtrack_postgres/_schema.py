"""The PostgreSQL store's schema, versioned, created and migrated in place.

Everything lives in one schema (default `convtrack`): the runs; a row per conversation
kept up to date as runs are written (the same columns as the SQLite store, plus `pairs`,
every metadata key/value of its runs as a `jsonb` array under a GIN index); full-text
documents (`tsvector`, GIN); feedback. `schema_version` says which version the tables
are; each step of `MIGRATIONS` brings them one version up, in one transaction that holds
an advisory lock, so many processes opening the store at once migrate it once.
"""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg
from psycopg import sql

SCHEMA_VERSION = 2

_VERSION_1 = """
CREATE TABLE IF NOT EXISTS {s}.runs (
    run_id text COLLATE "C" PRIMARY KEY,
    parent_run_id text COLLATE "C",
    root_run_id text NOT NULL,
    conversation_id text COLLATE "C",
    user_id text,
    agent_id text,
    kind text NOT NULL,
    name text NOT NULL,
    source text NOT NULL,
    grouping text NOT NULL,
    started_at bigint NOT NULL,
    ended_at bigint NOT NULL,
    status text NOT NULL,
    error text,
    model text,
    inputs text,
    outputs text,
    usage text,
    metadata text
);
CREATE INDEX IF NOT EXISTS runs_by_conversation ON {s}.runs (conversation_id, started_at);
CREATE INDEX IF NOT EXISTS runs_by_start ON {s}.runs (started_at, run_id);
CREATE INDEX IF NOT EXISTS runs_llm_by_parent ON {s}.runs (parent_run_id)
    WHERE kind = 'llm' AND parent_run_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS {s}.conversations (
    conversation_id text COLLATE "C" PRIMARY KEY,
    user_id text COLLATE "C",
    agent_id text COLLATE "C",
    first_at bigint NOT NULL,
    last_at bigint NOT NULL,
    run_count bigint NOT NULL,
    llm_count bigint NOT NULL,
    inferred boolean NOT NULL,
    error_count bigint NOT NULL,
    input_tokens bigint NOT NULL,
    output_tokens bigint NOT NULL,
    cost_nanos bigint NOT NULL,
    priced_count bigint NOT NULL,
    first_input text,
    first_input_key text COLLATE "C",
    last_output text,
    last_output_key text COLLATE "C",
    tools jsonb NOT NULL,
    metadata jsonb NOT NULL,
    ended_at bigint,
    pairs jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_by_last
    ON {s}.conversations (last_at DESC, conversation_id);
CREATE INDEX IF NOT EXISTS conversations_by_user
    ON {s}.conversations (user_id, last_at DESC, conversation_id);
CREATE INDEX IF NOT EXISTS conversations_by_agent
    ON {s}.conversations (agent_id, last_at DESC, conversation_id);
CREATE INDEX IF NOT EXISTS conversations_with_errors
    ON {s}.conversations (last_at DESC, conversation_id) WHERE error_count > 0;
CREATE INDEX IF NOT EXISTS conversations_by_pairs
    ON {s}.conversations USING gin (pairs jsonb_path_ops);
CREATE TABLE IF NOT EXISTS {s}.search_documents (
    document_id bigserial PRIMARY KEY,
    conversation_id text COLLATE "C" NOT NULL,
    body tsvector NOT NULL
);
CREATE INDEX IF NOT EXISTS search_documents_by_conversation
    ON {s}.search_documents (conversation_id);
CREATE INDEX IF NOT EXISTS search_documents_by_body ON {s}.search_documents USING gin (body);
CREATE TABLE IF NOT EXISTS {s}.feedback (
    feedback_id text PRIMARY KEY,
    conversation_id text COLLATE "C",
    run_id text,
    key text NOT NULL,
    score double precision,
    value text,
    comment text,
    created_at bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_by_conversation ON {s}.feedback (conversation_id, key)
"""

_VERSION_2 = """
ALTER TABLE {s}.feedback ADD COLUMN IF NOT EXISTS user_id text;
CREATE INDEX IF NOT EXISTS feedback_by_key ON {s}.feedback (key, conversation_id);
CREATE INDEX IF NOT EXISTS feedback_by_run ON {s}.feedback (run_id) WHERE run_id IS NOT NULL
"""

MIGRATIONS = {0: _VERSION_1, 1: _VERSION_2}  # from version n to n + 1


class SchemaError(Exception):
    """The schema holds something else, or was written by a newer convtrack-postgres."""


def lock_key(text: str) -> int:
    """A 64-bit advisory lock key for `text` (a conversation id, a schema name)."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _version(conn: psycopg.Connection[tuple[Any, ...]], schema: str) -> int | None:
    """The schema's version; None when the schema or its version table is missing."""
    found = conn.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = %s"
        " AND table_name = 'schema_version'",
        (schema,),
    ).fetchone()
    if found is None:
        return None
    row = conn.execute(sql.SQL("SELECT max(version) FROM {}.schema_version").format(
        sql.Identifier(schema))).fetchone()  # fmt: skip
    return int(row[0]) if row is not None and row[0] is not None else 0


def prepare(conn: psycopg.Connection[tuple[Any, ...]], schema: str, create: bool) -> None:
    """Create the schema or bring it up to `SCHEMA_VERSION`, once, whoever else tries.

    Raises:
        SchemaError: a newer version, or (when not `create`) no convtrack store there.
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("convtrack schema " + schema),))
        version = _version(conn, schema)
        if version is None and not create:
            raise SchemaError(f"no convtrack store in schema {schema!r}")
        if version is not None and version > SCHEMA_VERSION:
            raise SchemaError(
                f"schema {schema!r} was written by a newer convtrack-postgres"
                f" (version {version}); upgrade convtrack-postgres"
            )
        if version == SCHEMA_VERSION:
            return
        name = sql.Identifier(schema)
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
        conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {}.schema_version (version integer NOT NULL)")
            .format(name)
        )  # fmt: skip
        for step in range(version or 0, SCHEMA_VERSION):
            for statement in MIGRATIONS[step].split(";"):
                if statement.strip():
                    conn.execute(sql.SQL(statement).format(s=name))
        conn.execute(sql.SQL("DELETE FROM {}.schema_version").format(name))
        conn.execute(
            sql.SQL("INSERT INTO {}.schema_version (version) VALUES (%s)").format(name),
            (SCHEMA_VERSION,),
        )
