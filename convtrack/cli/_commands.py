"""The subcommands that read a store or serve it: conversations, show, prune, ui, mcp."""

from __future__ import annotations

import argparse
from datetime import datetime

from .._text import printable
from ..sinks import SQLiteSink, next_cursor
from ._args import open_db, parse_when, store_filters
from ._render import (
    conversations_table,
    feedback_line,
    plain,
    run_label,
    stderr_console,
    stdout_console,
)


def cmd_conversations(args: argparse.Namespace) -> int:
    console = stdout_console()
    store = open_db(args.db)
    try:
        summaries = store.conversations(
            limit=args.limit,
            before=args.before,
            feedback=args.feedback,
            ended=args.ended,
            **store_filters(args),
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


def cmd_show(args: argparse.Namespace) -> int:
    from rich.text import Text
    from rich.tree import Tree

    console = stdout_console()
    store = open_db(args.db)
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
        nodes[run.run_id] = parent.add(run_label(run))
    console.print(tree)
    ended = None if summary is None else summary.ended_at
    console.print("open" if ended is None else f"ended {ended:%Y-%m-%d %H:%M:%S} UTC")
    for given in feedback:
        console.print(feedback_line(given))
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    cutoff = parse_when(args.older_than, "--older-than")
    assert cutoff is not None
    store = open_db(args.db)
    try:
        deleted = prune_with_progress(store, cutoff)
        if args.vacuum:
            store.vacuum()
    finally:
        store.close()
    print(
        printable(f"deleted {deleted} conversations last active before {cutoff:%Y-%m-%d %H:%M} UTC")
    )
    return 0


def prune_with_progress(store: SQLiteSink, cutoff: datetime) -> int:
    """`store.prune`, with a progress bar when stderr is a terminal."""
    err = stderr_console()
    if not err.is_terminal:
        return store.prune(cutoff)
    from rich.progress import Progress

    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("pruning conversations", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return store.prune(cutoff, progress=advance)


def cmd_ui(args: argparse.Namespace) -> int:
    try:
        from ..viewer._serve import serve
    except ImportError as exc:  # starlette (the `ui` extra) is missing
        raise SystemExit(f"convtrack: {exc}") from None
    return serve(
        args.db,
        host=args.host,
        port=args.port,
        allow_hosts=args.allow_host or (),
        feedback_token=args.feedback_token,
    )


def cmd_mcp(args: argparse.Namespace) -> int:
    try:
        from ..mcp import create_server, serve_http
    except ImportError as exc:  # the `mcp` extra is missing
        raise SystemExit(f"convtrack: {exc}") from None
    store = open_db(args.db)
    try:
        server = create_server(store)
        if args.transport == "stdio":
            server.run("stdio")
        else:
            from ..viewer._serve import is_loopback

            loopback = is_loopback(args.host)
            serve_http(
                server, host=args.host, port=args.port, store_name=args.db, loopback=loopback
            )
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
    return 0
