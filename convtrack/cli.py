"""The `convtrack` command: look at the conversations in a SQLite store."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ._serialize import run_to_dict
from .sinks import DatabaseError, SQLiteSink

if TYPE_CHECKING:
    from rich.console import Console

    from ._runs import Run
    from .sinks import ConversationSummary

DEFAULT_DB = "convtrack.db"


def _console() -> Console:
    try:
        from rich.console import Console
    except ImportError:
        raise SystemExit(
            "convtrack: this command needs rich: pip install 'convtrack[cli]'"
        ) from None
    return Console(highlight=False)


def _open(db: str) -> SQLiteSink:
    try:
        return SQLiteSink(db, create=False)
    except DatabaseError as exc:
        raise SystemExit(f"convtrack: {exc}") from None


def conversations_table(summaries: Sequence[ConversationSummary], title: str) -> Any:
    """A rich Table of conversation summaries."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("conversation", no_wrap=True)
    for column in ("user", "agent", "runs", "llm", "first", "last"):
        table.add_column(column, justify="right" if column in ("runs", "llm") else "left")
    for s in summaries:
        table.add_row(
            s.conversation_id + (" (auto)" if s.inferred else ""),
            s.user_id or "-",
            s.agent_id or "-",
            str(s.run_count),
            str(s.llm_count),
            s.first_at.strftime("%m-%d %H:%M:%S"),
            s.last_at.strftime("%m-%d %H:%M:%S"),
        )
    return table


def _cmd_conversations(args: argparse.Namespace) -> int:
    console = _console()
    store = _open(args.db)
    try:
        summaries = store.conversations(limit=args.limit, user_id=args.user)
    finally:
        store.close()
    if not summaries:
        console.print(f"no conversations in {args.db}")
        return 0
    console.print(conversations_table(summaries, f"conversations in {args.db}"))
    return 0


def _run_label(run: Run) -> str:
    from rich.markup import escape

    parts = [f"[bold]{escape(run.name)}[/bold] [dim]{run.kind.value}[/dim]"]
    parts.append(f"{run.duration_ms:.1f} ms")
    if run.model:
        parts.append(escape(run.model))
    if run.usage:
        tokens = run.usage.get("total_tokens") or sum(
            v for k, v in run.usage.items() if k in ("input_tokens", "output_tokens")
        )
        if tokens:
            parts.append(f"{tokens} tokens")
    if run.status == "error":
        parts.append(f"[red]{escape(run.error or 'error')}[/red]")
    return "  ".join(parts)


def _cmd_show(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.tree import Tree

    console = _console()
    store = _open(args.db)
    try:
        runs = store.runs(args.conversation_id)
    finally:
        store.close()
    if not runs:
        console.print(f"convtrack: no conversation {escape(args.conversation_id)!s} in {args.db}")
        return 1
    first = runs[0]
    tree = Tree(
        f"conversation [bold]{escape(args.conversation_id)}[/bold]"
        f"  user {escape(first.user_id or '-')}  ({len(runs)} runs)"
    )
    nodes: dict[str, Tree] = {}
    for run in runs:  # start order: a parent starts before its children
        parent = nodes.get(run.parent_run_id or "", tree)
        nodes[run.run_id] = parent.add(_run_label(run))
    console.print(tree)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    store = _open(args.db)
    try:
        if args.output == "-":
            _write_jsonl(store, sys.stdout, progress=False)
        else:
            with Path(args.output).open("w", encoding="utf-8") as out:
                _write_jsonl(store, out, progress=True)
    finally:
        store.close()
    return 0


def _write_jsonl(store: SQLiteSink, out: TextIO, *, progress: bool) -> None:
    runs: Iterable[Run] = store.iter_runs()
    total = store.count()
    if progress and total > 1000:
        from rich.progress import track

        runs = track(runs, total=total, description="exporting", console=_stderr())
    for run in runs:
        out.write(json.dumps(run_to_dict(run), ensure_ascii=True) + "\n")


def _stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def _cmd_ui(args: argparse.Namespace) -> int:
    try:
        from .viewer._serve import serve
    except ImportError as exc:  # starlette (the `ui` extra) is missing
        raise SystemExit(f"convtrack: {exc}") from None
    return serve(args.db, host=args.host, port=args.port)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `convtrack` command."""
    parser = argparse.ArgumentParser(prog="convtrack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def with_db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--db", default=DEFAULT_DB, help="SQLite store (default: %(default)s)")
        return p

    p = with_db(sub.add_parser("conversations", help="list conversations, most recent first"))
    p.add_argument("--user", help="only this user's conversations")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default: %(default)s)")
    p.set_defaults(handler=_cmd_conversations)
    p = with_db(sub.add_parser("show", help="one conversation's runs as a tree"))
    p.add_argument("conversation_id")
    p.set_defaults(handler=_cmd_show)
    p = with_db(sub.add_parser("export", help="every run as JSON lines"))
    p.add_argument("--format", choices=["jsonl"], default="jsonl")
    p.add_argument("--output", "-o", default="-", help="file to write (default: stdout)")
    p.set_defaults(handler=_cmd_export)
    p = with_db(sub.add_parser("ui", help="serve the web viewer (loopback unless --host says)"))
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    p.add_argument("--port", type=int, default=8765, help="port, 0 for any (default: %(default)s)")
    p.set_defaults(handler=_cmd_ui)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `convtrack` command."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except BrokenPipeError:  # `convtrack export | head`
        sys.stderr.close()
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
