"""The `convtrack` command: look at the conversations in a SQLite store."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._setup import DEFAULT_DB
from ._commands import cmd_conversations, cmd_mcp, cmd_prune, cmd_show, cmd_ui
from ._export import cmd_export
from ._render import conversations_table

__all__ = ["build_parser", "conversations_table", "main"]


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
    p.set_defaults(handler=cmd_conversations)
    p = with_db(sub.add_parser("show", help="one conversation's runs as a tree"))
    p.add_argument("conversation_id")
    p.set_defaults(handler=cmd_show)
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
    p.set_defaults(handler=cmd_export)
    p = with_db(sub.add_parser("prune", help="delete conversations last active long ago"))
    p.add_argument(
        "--older-than", required=True, metavar="AGE", help="a span such as 30d, 12h, 2w, or a time"
    )
    p.add_argument("--vacuum", action="store_true", help="then give the space back (VACUUM)")
    p.set_defaults(handler=cmd_prune)
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
    p.set_defaults(handler=cmd_ui)
    p = with_db(sub.add_parser("mcp", help="serve the store to agents over MCP (read only)"))
    p.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    p.add_argument("--host", default="127.0.0.1", help="http: address to bind (%(default)s)")
    p.add_argument("--port", type=int, default=8766, help="http: port, 0 for any (%(default)s)")
    p.set_defaults(handler=cmd_mcp)
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
