"""`convtrack-demo [--db PATH]`: record the demo workload, then list what it recorded."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.console import Console

from convtrack.cli import conversations_table

from ._workload import run_demo

DEFAULT_DB = "convtrack.db"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo into `--db` (default ./convtrack.db) and print its conversations."""
    parser = argparse.ArgumentParser(
        prog="convtrack-demo", description="Record an offline support-chat workload, then list it."
    )
    parser.add_argument("--db", default=DEFAULT_DB, help="SQLite store (default: %(default)s)")
    args = parser.parse_args(argv)
    console = Console()
    summaries = run_demo(args.db)
    console.print(conversations_table(summaries, f"demo conversations written to {args.db}"))
    console.print(
        f"see one with: convtrack show {summaries[0].conversation_id} --db {args.db}"
        if summaries
        else "no conversations recorded"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
