"""`convtrack export`: runs as JSON lines, or conversations as a chat dataset."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .._serialize import run_to_dict
from .._text import printable
from ..sinks import SQLiteSink
from ..sinks._dataset import chat_record, iter_conversations
from ._args import open_db, store_filters
from ._render import stderr_console

if TYPE_CHECKING:
    from .._runs import Run


def cmd_export(args: argparse.Namespace) -> int:
    store = open_db(args.db)
    try:
        filters = store_filters(args)
        every_run = args.format == "jsonl" and not any(filters.values()) and args.limit is None
        if not every_run:
            next(iter_conversations(store, limit=1, **filters), None)  # a bad filter: say so now
        if args.output == "-":
            _export(store, args, filters, sys.stdout, progress=False, every_run=every_run)
        else:
            with Path(args.output).open("w", encoding="utf-8") as out:
                _export(store, args, filters, out, progress=True, every_run=every_run)
    except ValueError as exc:
        raise SystemExit(f"convtrack: {printable(str(exc))}") from None
    finally:
        store.close()
    return 0


def _export(
    store: SQLiteSink,
    args: argparse.Namespace,
    filters: dict[str, Any],
    out: TextIO,
    *,
    progress: bool,
    every_run: bool,
) -> None:
    if every_run:
        _write_jsonl(store, out, progress)
    else:
        _write_filtered(store, args, filters, out, progress)


def _write_jsonl(store: SQLiteSink, out: TextIO, progress: bool) -> None:
    runs: Iterable[Run] = store.iter_runs()
    total = store.count()
    if progress and total > 1000:
        from rich.progress import track

        runs = track(runs, total=total, description="exporting", console=stderr_console())
    for run in runs:
        out.write(json.dumps(run_to_dict(run), ensure_ascii=True) + "\n")


def _write_filtered(
    store: SQLiteSink,
    args: argparse.Namespace,
    filters: dict[str, Any],
    out: TextIO,
    progress: bool,
) -> None:
    """The matching conversations: their runs (`jsonl`) or each as a chat record."""
    err = stderr_console() if progress else None
    if err is None or not err.is_terminal:
        _write_conversations(store, args, filters, out, lambda: None)
        return
    from rich.progress import Progress

    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("exporting conversations", total=None)
        _write_conversations(store, args, filters, out, lambda: bar.advance(task))


def _write_conversations(
    store: SQLiteSink,
    args: argparse.Namespace,
    filters: dict[str, Any],
    out: TextIO,
    advance: Callable[[], None],
) -> None:
    for summary in iter_conversations(store, limit=args.limit, **filters):
        runs = store.runs(summary.conversation_id)
        if args.format == "jsonl":
            lines = [run_to_dict(run) for run in runs]
        else:
            record = chat_record(summary, runs)
            lines = [] if record is None else [record]
        for line in lines:
            out.write(json.dumps(line, ensure_ascii=True) + "\n")
        advance()
