"""Bringing a store's schema up to this convtrack's: create it, or migrate in place.

A version-1 file (runs only) is migrated once, when a writer opens it, in one transaction:
every run counted into its conversation's row as if new. A version-2 file gets the table of
LLM runs awaiting their parent in place of its index of LLM runs by parent (and, if written
before feedback was recorded, its missing feedback column and indexes). Both lose the index
of runs by user.
"""

from __future__ import annotations

import os
import sqlite3

from . import _schema
from ._rows import COLUMNS
from ._rows import run_of as _run
from ._upkeep import Stored, await_parents, update

_MIGRATE_BATCH = 2000
# Pages written to the WAL before a commit copies them into the database (SQLite: 1,000).
# A batch of runs with its conversations' rows and search text writes ~700 pages, so SQLite's
# default checkpointed (and synced) nearly every batch; 8,192 (32 MiB) checkpoints a page
# written by many batches once (bench_store.py: ~1.1-1.2x the write rate). After a checkpoint
# the WAL file is cut back to `_WAL_KEEP` bytes.
_CHECKPOINT_PAGES = 8192
_WAL_KEEP = 32 * 2**20


class DatabaseError(Exception):
    """The file is missing, not a convtrack database, or from a newer convtrack."""


def connect(path: str | os.PathLike[str], create: bool, cache_kib: int) -> sqlite3.Connection:
    """A connection to the store at `path`, its schema brought up to this convtrack's.

    Raises:
        DatabaseError: not a convtrack database, or one from a newer convtrack.
    """
    if create:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 5000")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if version > _schema.SCHEMA_VERSION:
            raise DatabaseError(
                f"{path} was written by a newer convtrack (schema {version}); upgrade convtrack"
            )
        if version == 0 and (tables - {"runs"} or not create):
            raise DatabaseError(f"{path} is not a convtrack database")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA cache_size = -{cache_kib}")
        conn.execute(f"PRAGMA wal_autocheckpoint = {_CHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit = {_WAL_KEEP}")
        if needs_upgrade(conn, version):
            upgrade(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise DatabaseError(f"{path} is not a convtrack database ({exc})") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def needs_upgrade(conn: sqlite3.Connection, version: int) -> bool:
    """Whether `upgrade` has anything to do for a store at schema `version`."""
    return version < _schema.SCHEMA_VERSION or not _schema.is_complete(conn)


def upgrade(conn: sqlite3.Connection) -> None:
    """Create the schema, or migrate an older store in place (once, in one transaction)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]  # another may have won
        if version < 2:  # a new file, or runs written by convtrack 0.1
            _schema.create(conn)
            search = _schema.has_search_table(conn)
            last = 0
            while True:  # every run, in the order they were written, counted as new
                rows = conn.execute(
                    f"SELECT rowid, {COLUMNS} FROM runs WHERE rowid > ? ORDER BY rowid LIMIT ?",
                    (last, _MIGRATE_BATCH),
                ).fetchall()
                if not rows:
                    break
                stored: list[Stored] = [(_run(r), r["started_at"], r["ended_at"]) for r in rows]
                update(conn, stored, last, search)
                last = rows[-1][0]
        _schema.complete(conn)
        if version == 2:
            await_parents(conn)
            conn.execute("DROP INDEX IF EXISTS runs_llm_by_parent")
        conn.execute("DROP INDEX IF EXISTS runs_by_user")  # (versions 1 and 2 had it)
        conn.execute(f"PRAGMA user_version = {_schema.SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
