"""The `convtrack` command: look at the conversations in a SQLite store."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ._serialize import run_to_dict
from ._setup import DEFAULT_DB
from ._text import printable
from .sinks import DatabaseError, SQLiteSink, next_cursor
from .sinks._dataset import chat_record, iter_conversations
from .sinks._query import metadata_from_text
from .sinks._times import parse_time
from .sinks._usage import tokens_of

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from ._events import Feedback
    from ._runs import Run
    from .sinks import ConversationSummary


def plain(text: str, style: str = "") -> Text:
    """A store string as rich text: printed as it is, never read as markup."""
    from rich.text import Text

    return Text(printable(text), style=style)


def _console() -> Console:
    try:
        from rich.console import Console
    except ImportError:
        raise SystemExit(
            "convtrack: this command needs rich: pip install 'convtrack[cli]'"
        ) from None
    return Console(highlight=False)


def _open(db: str) -> SQLiteSink:
    """The store a path or URL names (`open_store`); trouble is one line, not a traceback."""
    from .sinks import open_store

    try:
        store: SQLiteSink = open_store(db, create=False)  # or a store of the same protocol
        return store
    except DatabaseError as exc:
        raise SystemExit(f"convtrack: {exc}") from None


def fmt_cost(cost: float | None) -> str:
    """US dollars, as precise as small amounts need; None (no known price): a dash."""
    if cost is None:
        return "-"
    return f"${cost:.2f}" if cost >= 1 else f"${cost:.2g}"


def conversations_table(summaries: Sequence[ConversationSummary], title: str) -> Any:
    """A rich Table of conversation summaries (every store string shown as plain text).

    On a narrow terminal long ids and users are cut with an ellipsis; the figures are not. The
    agent column is left out when no conversation has one.
    """
    from rich.table import Table

    table = Table(title=plain(title), title_justify="left")
    table.add_column("conversation", overflow="ellipsis", min_width=12)
    table.add_column("user", overflow="ellipsis", min_width=6)
    agents = any(s.agent_id for s in summaries)
    if agents:
        table.add_column("agent", no_wrap=True, overflow="ellipsis", max_width=14)
    for column in ("runs", "llm", "tokens", "cost", "errors"):
        table.add_column(column, justify="right", no_wrap=True, min_width=len(column))
    table.add_column("last", no_wrap=True, min_width=11)
    table.add_column("state", no_wrap=True, min_width=5)
    for s in summaries:
        cells = [
            plain(s.conversation_id + (" (auto)" if s.inferred else "")),
            plain(s.user_id or "-"),
            *([plain(s.agent_id or "-")] if agents else []),
            str(s.run_count),
            str(s.llm_count),
            f"{s.input_tokens + s.output_tokens:,}",
            fmt_cost(s.cost),
            plain(str(s.error_count), "red" if s.error_count else ""),
            s.last_at.strftime("%m-%d %H:%M"),
            "open" if s.ended_at is None else "ended",
        ]
        table.add_row(*cells)
    return table


def _time(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_time(text, name=name)
    except ValueError as exc:
        raise SystemExit(f"convtrack: {exc}") from None


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    """The store filters given on the command line (`--user`, `--metadata`, ...).

    Raises:
        ValueError: a metadata filter that is not KEY=VALUE.
    """
    return {
        "user_id": args.user,
        "agent_id": args.agent,
        "since": _time(args.since, "--since"),
        "until": _time(args.until, "--until"),
        "query": args.query,
        "metadata": metadata_from_text(args.metadata or []),
        "text": args.text,
        "status": args.status,
    }


def _cmd_conversations(args: argparse.Namespace) -> int:
    console = _console()
    store = _open(args.db)
    try:
        summaries = store.conversations(
            limit=args.limit,
            before=args.before,
            feedback=args.feedback,
            ended=args.ended,
            **_filters(args),
        )
    except ValueError as exc:
        raise SystemExit(f"convtrack: {printable(str(exc))}") from None
    finally:
        store.close()
    if not summaries:
        console.print(plain(f"no conversations in {args.db}"))
        return 0
    console.print(conversations_table(summaries, f"conversations in {args.db}"))
    if len(summaries) == args.limit:
        console.print(plain(f"older ones: --before {next_cursor(summaries)}"), style="dim")
    return 0


def _cmd_prune(args: argparse.Namespace) -> int:
    cutoff = _time(args.older_than, "--older-than")
    assert cutoff is not None
    store = _open(args.db)
    try:
        deleted = _prune(store, cutoff)
        if args.vacuum:
            store.vacuum()
    finally:
        store.close()
    print(
        printable(f"deleted {deleted} conversations last active before {cutoff:%Y-%m-%d %H:%M} UTC")
    )
    return 0


def _prune(store: SQLiteSink, cutoff: datetime) -> int:
    """`store.prune`, with a progress bar when stderr is a terminal."""
    err = _stderr()
    if not err.is_terminal:
        return store.prune(cutoff)
    from rich.progress import Progress

    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("pruning conversations", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return store.prune(cutoff, progress=advance)


def _run_label(run: Run) -> Text:
    from rich.text import Text

    label = Text.assemble(plain(run.name, "bold"), " ", (run.kind.value, "dim"))
    label.append(f"  {run.duration_ms:.1f} ms")
    if run.model:
        label.append("  ")
        label.append_text(plain(run.model))
    tokens = tokens_of(run.usage)
    if tokens is not None and tokens.total:
        label.append(f"  {tokens.total} tokens")
    if run.status == "error":
        label.append("  ")
        label.append_text(plain(run.error or "error", "red"))
    return label


def _cmd_show(args: argparse.Namespace) -> int:
    from rich.text import Text
    from rich.tree import Tree

    console = _console()
    store = _open(args.db)
    try:
        runs = store.runs(args.conversation_id)
        summary = store.conversation(args.conversation_id)
        feedback = store.feedback(args.conversation_id)
    finally:
        store.close()
    if not runs and summary is None and not feedback:
        console.print(plain(f"convtrack: no conversation {args.conversation_id} in {args.db}"))
        return 1
    user = runs[0].user_id if runs else summary.user_id if summary else None
    tree = Tree(
        Text.assemble(
            "conversation ",
            plain(args.conversation_id, "bold"),
            "  user ",
            plain(user or "-"),
            f"  ({len(runs)} runs)",
        )
    )
    nodes: dict[str, Tree] = {}
    for run in runs:  # start order: a parent starts before its children
        parent = nodes.get(run.parent_run_id or "", tree)
        nodes[run.run_id] = parent.add(_run_label(run))
    console.print(tree)
    ended = None if summary is None else summary.ended_at
    console.print("open" if ended is None else f"ended {ended:%Y-%m-%d %H:%M:%S} UTC")
    for given in feedback:
        console.print(_feedback_line(given))
    return 0


def _feedback_line(given: Feedback) -> Text:
    """One feedback record as a line: key, score, value, comment, and the run it is on."""
    from rich.text import Text

    line = Text.assemble("feedback ", plain(given.key, "bold"))
    if given.score is not None:
        line.append(f"  score {given.score:g}")
    if given.value is not None:
        line.append("  value ")
        line.append_text(plain(json.dumps(given.value, ensure_ascii=False)))
    if given.comment:
        line.append("  ")
        line.append_text(plain(repr(given.comment)))
    if given.run_id:
        line.append("  on run ")
        line.append_text(plain(given.run_id))
    return line


def _cmd_export(args: argparse.Namespace) -> int:
    store = _open(args.db)
    try:
        filters = _filters(args)
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

        runs = track(runs, total=total, description="exporting", console=_stderr())
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
    err = _stderr() if progress else None
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


def _stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def _cmd_ui(args: argparse.Namespace) -> int:
    try:
        from .viewer._serve import serve
    except ImportError as exc:  # starlette (the `ui` extra) is missing
        raise SystemExit(f"convtrack: {exc}") from None
    return serve(
        args.db,
        host=args.host,
        port=args.port,
        allow_hosts=args.allow_host or (),
        feedback_token=args.feedback_token,
    )


def _cmd_mcp(args: argparse.Namespace) -> int:
    try:
        from .mcp import create_server, serve_http
    except ImportError as exc:  # the `mcp` extra is missing
        raise SystemExit(f"convtrack: {exc}") from None
    store = _open(args.db)
    try:
        server = create_server(store)
        if args.transport == "stdio":
            server.run("stdio")
        else:
            from .viewer._serve import is_loopback

            loopback = is_loopback(args.host)
            serve_http(
                server, host=args.host, port=args.port, store_name=args.db, loopback=loopback
            )
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `convtrack` command."""
    parser = argparse.ArgumentParser(prog="convtrack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def with_db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--db", default=DEFAULT_DB, help="SQLite store (default: %(default)s)")
        return p

    def with_filters(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        with_db(p)
        p.add_argument("--user", help="only this user's conversations")
        p.add_argument("--agent", help="only this agent's conversations")
        p.add_argument("--query", "-q", help="only conversations whose id contains this")
        p.add_argument(
            "--metadata",
            action="append",
            metavar="KEY=VALUE",
            help="only conversations with this metadata (repeat for more)",
        )
        p.add_argument("--text", help="only conversations whose messages contain this")
        p.add_argument("--status", choices=["error", "ok"], help="only with (or without) errors")
        p.add_argument("--since", help="last active since: ISO time or a span back (2h, 7d)")
        p.add_argument("--until", help="last active before: ISO time or a span back")
        return p

    p = with_filters(sub.add_parser("conversations", help="list conversations, most recent first"))
    p.add_argument("--before", metavar="CURSOR", help="the page after this cursor")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default: %(default)s)")
    p.add_argument("--feedback", metavar="KEY", help="only conversations with feedback of this key")
    state = p.add_mutually_exclusive_group()
    state.add_argument(
        "--ended",
        dest="ended",
        action="store_const",
        const=True,
        help="only ended conversations (end_conversation(), or idle 30 minutes)",
    )
    state.add_argument(
        "--open", dest="ended", action="store_const", const=False, help="only open conversations"
    )
    p.set_defaults(handler=_cmd_conversations)
    p = with_db(sub.add_parser("show", help="one conversation's runs as a tree"))
    p.add_argument("conversation_id")
    p.set_defaults(handler=_cmd_show)
    p = with_filters(
        sub.add_parser(
            "export",
            help="runs as JSON lines, or conversations as a chat dataset (--format openai-chat)",
        )
    )
    p.add_argument(
        "--format",
        choices=["jsonl", "openai-chat"],
        default="jsonl",
        help="jsonl: one run a line; openai-chat: one conversation a line,"
        ' {"messages": [...], "metadata": {...}} (default: %(default)s)',
    )
    p.add_argument("--limit", type=int, help="at most this many conversations")
    p.add_argument("--output", "-o", default="-", help="file to write (default: stdout)")
    p.set_defaults(handler=_cmd_export)
    p = with_db(sub.add_parser("prune", help="delete conversations last active long ago"))
    p.add_argument(
        "--older-than", required=True, metavar="AGE", help="a span such as 30d, 12h, 2w, or a time"
    )
    p.add_argument("--vacuum", action="store_true", help="then give the space back (VACUUM)")
    p.set_defaults(handler=_cmd_prune)
    p = with_db(sub.add_parser("ui", help="serve the web viewer (loopback unless --host says)"))
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    p.add_argument("--port", type=int, default=8765, help="port, 0 for any (default: %(default)s)")
    p.add_argument(
        "--allow-host",
        action="append",
        metavar="NAME",
        help="also answer requests for this host name (repeat; '*' for any)",
    )
    p.add_argument(
        "--feedback-token",
        metavar="TOKEN",
        help="POST /api/feedback needs 'Authorization: Bearer TOKEN' (default: loopback only)",
    )
    p.set_defaults(handler=_cmd_ui)
    p = with_db(sub.add_parser("mcp", help="serve the store to agents over MCP (read only)"))
    p.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    p.add_argument("--host", default="127.0.0.1", help="http: address to bind (%(default)s)")
    p.add_argument("--port", type=int, default=8766, help="http: port, 0 for any (%(default)s)")
    p.set_defaults(handler=_cmd_mcp)
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
