"""What the MCP tools answer, from any store with the query API, every argument checked.

Each method returns a JSON-ready dict or raises `ValueError` with a message for the agent
(a bad filter, an unknown id, a limit or budget out of range, a cursor of another query).
Work is bounded: at most `MAX_LIMIT` rows a page, `MAX_RUNS` runs of one conversation,
`MAX_CHARS` characters an answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from .._json import dumps
from .._runs import Run
from .._serialize import run_to_dict
from ..sinks import next_cursor, next_run_cursor
from ..sinks._dataset import ConversationStore
from ..sinks._query import MAX_ID
from ..sinks._summary import summarise
from ..sinks._times import parse_time
from . import _cursor
from ._pages import page, transcript_items
from ._rows import conversation_row, prefix_fitting, run_row, run_tokens

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
DEFAULT_CHARS = 20_000
MIN_CHARS = 1_000
MAX_CHARS = 200_000
MAX_RUNS = 5_000  # runs of one conversation read for its transcript
T = TypeVar("T")
_BIG_FIELDS = ("error", "usage", "metadata", "outputs", "inputs")


class Store(ConversationStore, Protocol):
    """The query API the tools read (`SQLiteSink`, or another store with the same methods)."""

    def search_runs(
        self, limit: int | None = 50, **filters: Any
    ) -> list[Run]: ...  # pragma: no cover

    def run(self, run_id: str) -> Run | None: ...  # pragma: no cover


def _limit(limit: Any) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit: expected a whole number from 1 to {MAX_LIMIT}, got {limit!r:.80}")
    return limit


def _budget(max_chars: Any) -> int:
    if max_chars is None:
        return DEFAULT_CHARS
    if (
        isinstance(max_chars, bool)
        or not isinstance(max_chars, int)
        or not MIN_CHARS <= max_chars <= MAX_CHARS
    ):
        raise ValueError(
            f"max_chars: expected a whole number from {MIN_CHARS} to {MAX_CHARS},"
            f" got {max_chars!r:.80}"
        )
    return max_chars


def _time(name: str, text: Any) -> datetime | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValueError(f"{name}: expected an ISO 8601 time or a span such as 2h or 7d")
    return parse_time(text, name=name)


def _id(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: expected a non-empty string, got {value!r:.80}")
    if len(value) > MAX_ID:
        raise ValueError(f"{name}: longer than {MAX_ID} characters")
    return value


def _query(**arguments: Any) -> dict[str, Any]:
    """The arguments that define a question (for its cursor), metadata in a stable order."""
    found = {k: v for k, v in arguments.items() if v is not None}
    if isinstance(found.get("metadata"), Mapping):
        found["metadata"] = sorted((str(k), v) for k, v in found["metadata"].items())
    return found


class Reader:
    """The four read-only questions the MCP server answers, over `store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _search(
        self,
        tool: str,
        fetch: Callable[..., Sequence[T]],
        cursor_of: Callable[[Sequence[T]], str | None],
        row: Callable[[T], dict[str, Any]],
        filters: dict[str, Any],
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of `fetch(limit, **filters)` as rows, and the cursor of the next one."""
        size = _limit(filters.pop("limit", None))
        cursor = filters.pop("cursor", None)
        query = _query(**filters)
        before = None if cursor is None else _cursor.decode(tool, query, cursor)
        times = {name: _time(name, filters.get(name)) for name in ("since", "until")}
        found = fetch(size + 1, **{**filters, **times}, before=before)
        shown = found[:size]
        more = len(found) > size
        return [row(item) for item in shown], (
            _cursor.encode(tool, query, cursor_of(shown)) if more else None
        )

    def search_conversations(self, **filters: Any) -> dict[str, Any]:
        """Conversations, the most recently active first, and the cursor of the next page.

        Args:
            **filters: user_id, agent_id, metadata, text, status, since, until (text: ISO
                8601 or a span such as 2h), limit, cursor.
        """
        rows, following = self._search(
            "search_conversations",
            self.store.conversations,
            next_cursor,
            conversation_row,
            filters,
        )
        return {"conversations": rows, "next_cursor": following}

    def search_runs(self, **filters: Any) -> dict[str, Any]:
        """Runs, the most recently started first, and the cursor of the next page.

        Args:
            **filters: conversation_id, kind, status, model, metadata, text, since, limit,
                cursor.
        """
        rows, following = self._search(
            "search_runs", self.store.search_runs, next_run_cursor, run_row, filters
        )
        return {"runs": rows, "next_cursor": following}

    def get_conversation(
        self, conversation_id: Any, *, max_chars: Any = None, cursor: Any = None
    ) -> dict[str, Any]:
        """One page of a conversation's transcript (the first also has its summary)."""
        conversation_id = _id("conversation_id", conversation_id)
        budget = _budget(max_chars)
        query = {"conversation_id": conversation_id}
        position = (0, 0)
        if cursor is not None:
            found = _cursor.decode("get_conversation", query, cursor)
            if not (isinstance(found, list) and len(found) == 2):
                raise ValueError("cursor: not a cursor of get_conversation")
            position = (int(found[0]), int(found[1]))
        runs = self.store.search_runs(
            MAX_RUNS + 1, conversation_id=conversation_id, oldest_first=True
        )
        if not runs:
            raise ValueError(f"conversation_id: no conversation {conversation_id!r:.200}")
        head: dict[str, Any] = {"conversation_id": conversation_id}
        if position == (0, 0):
            summary = conversation_row(summarise(conversation_id, runs[:MAX_RUNS]))
            if len(dumps(summary)) > budget // 2:  # a small budget: the counts, not the texts
                for name in ("first_input", "last_answer", "metadata", "tools"):
                    del summary[name]
                summary["trimmed"] = True
            head["summary"] = summary
            if len(runs) > MAX_RUNS:
                head["note"] = f"only the first {MAX_RUNS} runs are shown"
        turns, items = transcript_items(runs[:MAX_RUNS])
        if not 0 <= position[0] <= len(items):
            raise ValueError("cursor: this conversation has changed; start again without one")
        body, following = page(head, turns, items, position, budget)
        if following is not None:
            body["next_cursor"] = _cursor.encode("get_conversation", query, list(following))
        if len(dumps(body)) > budget:  # the head alone (long ids) does not fit
            raise ValueError(f"max_chars: {budget} is too small for this conversation")
        return body

    def get_run(self, run_id: Any, *, max_chars: Any = None) -> dict[str, Any]:
        """One run in full (with its `conversation_id`), long fields cut to fit `max_chars`."""
        run_id = _id("run_id", run_id)
        budget = _budget(max_chars)
        run = self.store.run(run_id)
        if run is None:
            raise ValueError(f"run_id: no run {run_id!r:.200}")
        found = run_to_dict(run)
        found["duration_ms"] = round(run.duration_ms, 3)
        found["tokens"] = run_tokens(run)
        found["truncated"] = []
        big = {name: found.pop(name) for name in _BIG_FIELDS}
        room = budget - len(dumps(found)) - 200
        if room < 0:
            raise ValueError(f"max_chars: {budget} is too small for this run")
        by_size = sorted(big.items(), key=lambda item: len(dumps(item[1])))
        for left, (name, value) in enumerate(by_size):
            share = room // (len(by_size) - left)
            text = dumps(value)
            shown = value
            if len(text) + len(name) + 4 > share:
                shown = prefix_fitting(text, share - len(name) - 4)
                found["truncated"].append(name)
            found[name] = shown
            room -= len(dumps(shown)) + len(name) + 4
        return found
