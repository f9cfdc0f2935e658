"""What the subcommands share: the store `--db` names, times, and the store filters."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from ..sinks import DatabaseError, SQLiteSink, open_store
from ..sinks._query import metadata_from_text
from ..sinks._times import parse_time


def open_db(db: str) -> SQLiteSink:
    """The store a path or URL names (`open_store`); trouble is one line, not a traceback."""
    try:
        store: SQLiteSink = open_store(db, create=False)  # or a store of the same protocol
        return store
    except DatabaseError as exc:
        raise SystemExit(f"convtrack: {exc}") from None


def parse_when(text: str | None, name: str) -> datetime | None:
    """The time an option gives (ISO, or a span back such as 2h); a bad one ends the command."""
    if text is None:
        return None
    try:
        return parse_time(text, name=name)
    except ValueError as exc:
        raise SystemExit(f"convtrack: {exc}") from None


def store_filters(args: argparse.Namespace) -> dict[str, Any]:
    """The store filters given on the command line (`--user`, `--metadata`, ...).

    Raises:
        ValueError: a metadata filter that is not KEY=VALUE.
    """
    return {
        "user_id": args.user,
        "agent_id": args.agent,
        "since": parse_when(args.since, "--since"),
        "until": parse_when(args.until, "--until"),
        "query": args.query,
        "metadata": metadata_from_text(args.metadata or []),
        "text": args.text,
        "status": args.status,
    }
