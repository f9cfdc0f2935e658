"""How the command shows store content: plain text never read as markup, tables, trees."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._text import printable
from ..sinks._usage import tokens_of

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from .._events import Feedback
    from .._runs import Run
    from ..sinks import ConversationSummary


def plain(text: str, style: str = "") -> Text:
    """A store string as rich text: printed as it is, never read as markup."""
    from rich.text import Text

    return Text(printable(text), style=style)


def stdout_console() -> Console:
    try:
        from rich.console import Console
    except ImportError:
        raise SystemExit(
            "convtrack: this command needs rich: pip install 'convtrack[cli]'"
        ) from None
    return Console(highlight=False)


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


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


def run_label(run: Run) -> Text:
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


def feedback_line(given: Feedback) -> Text:
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
