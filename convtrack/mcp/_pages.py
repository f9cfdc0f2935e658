"""A conversation's transcript turn by turn, cut into pages of at most `max_chars` characters.

A turn is the work under one top-level run: its run tree (one line per run, at most
`MAX_TREE_LINES`) and the chat messages its LLM calls added. The transcript is a list of
items (tree lines and messages); a page holds as many as fit in the budget, a message that
does not fit is split, and the next page starts exactly where this one stopped: joined, the
pages hold every item once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._json import dumps
from .._runs import Run
from ..sinks._dataset import Message, chat_turns
from ._rows import prefix_fitting, run_line

MAX_TREE_LINES = 30  # lines of a turn's run tree; the rest are counted
MAX_DEPTH = 12
MIN_SPLIT = 40  # a message is split only if at least this much of it fits
CURSOR_ROOM = 400  # characters kept free for the next page's cursor


@dataclass(frozen=True)
class Item:
    """One tree line (`role` None) or one message of turn `turn`."""

    turn: int
    role: str | None
    text: str


@dataclass(frozen=True)
class Turn:
    """What every page showing a part of this turn repeats about it."""

    number: int
    root_run_id: str
    started_at: str


def _message_text(message: Message) -> str:
    lines = []
    if message.get("tool_call_id") is not None:
        lines.append(f"[result of tool call {message['tool_call_id']}]")
    if message.get("content"):
        lines.append(str(message["content"]))
    for call in message.get("tool_calls") or ():
        function = call["function"]
        lines.append(f"[tool call {call['id']}] {function['name']}({function['arguments']})")
    return "\n".join(lines)


def _depths(group: Sequence[Run]) -> dict[str, int]:
    parents = {run.run_id: run.parent_run_id for run in group}
    depths: dict[str, int] = {}
    for run in group:
        depth, current, seen = 0, run.parent_run_id, {run.run_id}
        while current in parents and current not in seen and depth < MAX_DEPTH:
            seen.add(current)
            depth, current = depth + 1, parents[current]
        depths[run.run_id] = depth
    return depths


def transcript_items(runs: Sequence[Run]) -> tuple[list[Turn], list[Item]]:
    """The turns of a conversation (runs in start order) and its items, in order."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.root_run_id, []).append(run)
    said: dict[str, list[Message]] = {}
    for run, messages in chat_turns(runs):
        said.setdefault(run.root_run_id, []).extend(messages)
    turns, items = [], []
    for number, (root, group) in enumerate(groups.items(), 1):
        turns.append(Turn(number, root, group[0].started_at.isoformat()))
        depths = _depths(group)
        for run in group[:MAX_TREE_LINES]:
            items.append(Item(number, None, run_line(run, depths[run.run_id])))
        if len(group) > MAX_TREE_LINES:
            more = len(group) - MAX_TREE_LINES
            items.append(Item(number, None, f"… {more} more runs (search_runs finds them)"))
        for message in said.get(root, ()):
            items.append(Item(number, str(message["role"]), _message_text(message)))
    return turns, items


def _size(value: Any) -> int:
    return len(dumps(value))


def _fit(item: Item, start: int, room: int) -> tuple[dict[str, Any], int] | None:
    """The entry of `item` from `start` that fits in `room` characters, and where it ends."""
    entry: dict[str, Any] = {"role": item.role, "text": item.text[start:]}
    if start:
        entry["continued"] = True
    if _size(entry) <= room:
        return entry, len(item.text)
    if item.role is None:  # tree lines are short: never split
        return None
    entry["continues"] = True
    overhead = _size({**entry, "text": ""}) - 2
    end = start + len(prefix_fitting(item.text[start:], room - overhead))
    entry["text"] = item.text[start:end]
    if end - start < min(MIN_SPLIT, len(item.text) - start):
        return None
    return entry, end


def page(
    head: dict[str, Any],
    turns: Sequence[Turn],
    items: Sequence[Item],
    position: tuple[int, int],
    max_chars: int,
) -> tuple[dict[str, Any], tuple[int, int] | None]:
    """`head` with the turns from `position` (item, character) that fit in `max_chars`.

    Returns:
        The page (`turns`: `{"turn", "root_run_id", "started_at", "runs": [lines],
        "messages": [{"role", "text"}]}`; a message cut at the end of a page says
        `"continues": true`, its rest on the next `"continued": true`) and the position
        of the next page (None: this page ends the transcript).

    Raises:
        ValueError: `max_chars` cannot hold even the first item.
    """
    index, start = position
    body: dict[str, Any] = {**head, "turns": [], "next_cursor": None}
    used = _size(body) + CURSOR_ROOM
    shown: list[dict[str, Any]] = body["turns"]
    while index < len(items):
        item = items[index]
        if not shown or shown[-1]["turn"] != item.turn:
            turn = turns[item.turn - 1]
            opened = {
                "turn": turn.number,
                "root_run_id": turn.root_run_id,
                "started_at": turn.started_at,
                "runs": [],
                "messages": [],
            }
            if start or (index and items[index - 1].turn == item.turn):
                opened["continued"] = True
            cost = _size(opened) + (1 if shown else 0)
            if used + cost > max_chars:
                break
            shown.append(opened)
            used += cost
        target = shown[-1]["runs" if item.role is None else "messages"]
        comma = 1 if target else 0
        fitted = _fit(item, start, max_chars - used - comma)
        if fitted is None:
            if not shown[-1]["runs"] and not shown[-1]["messages"]:
                used -= _size(shown.pop()) + (1 if shown else 0)
            break
        entry, end = fitted
        target.append(entry["text"] if item.role is None else entry)
        used += _size(target[-1]) + comma
        if end < len(item.text):
            start = end
            break
        index, start = index + 1, 0
    if index == position[0] and start == position[1] and index < len(items):
        raise ValueError(f"max_chars: {max_chars} is too small for this conversation's next item")
    return body, (index, start) if index < len(items) else None
