"""Conversations as chat datasets: `{"messages": [...], "metadata": {...}}`, one per conversation.

The shape of OpenAI's chat fine-tuning and evaluation files: `system`, `user`, `assistant`
(with `tool_calls`) and `tool` (with `tool_call_id`) messages. They are read off the
conversation's LLM calls, whatever SDK recorded them (OpenAI, Anthropic content blocks,
LangChain), each message once, in order. Works on any store with `conversations()` and
`runs()`; never raises on odd data (anything unknown becomes text).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol

from .._json import to_jsonable
from .._runs import Run, RunKind, nested_llm_run_ids
from ._query import check_limit
from ._rows import next_cursor
from ._summary import ConversationSummary
from ._text import as_text, content_text, input_messages, role_of

Message = dict[str, Any]
_BATCH = 100


class ConversationStore(Protocol):
    """What the readers use of a store (`SQLiteSink`, or any store with the same query API)."""

    def conversations(
        self,
        limit: int | None = 50,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        query: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        text: str | None = None,
        status: str | None = None,
        before: str | None = None,
    ) -> list[ConversationSummary]: ...  # pragma: no cover

    def runs(self, conversation_id: str | None = None) -> list[Run]: ...  # pragma: no cover


def _tool_call(call: Any) -> dict[str, Any]:
    """One tool call as OpenAI writes it: `{"id", "type": "function", "function": {...}}`."""
    if not isinstance(call, Mapping):
        call = {"function": {"name": "?", "arguments": call}}
    function = call.get("function")
    if isinstance(function, Mapping):  # OpenAI
        name, arguments = function.get("name"), function.get("arguments")
    else:  # LangChain (`args`) or an Anthropic `tool_use` block (`input`)
        name = call.get("name")
        arguments = call.get("args", call.get("input", call.get("arguments")))
    return {
        "id": call.get("id"),
        "type": "function",
        "function": {
            "name": name if isinstance(name, str) else as_text(name),
            "arguments": as_text({} if arguments is None else arguments),
        },
    }


def chat_messages_of(message: Any, default_role: str = "user") -> list[Message]:
    """One recorded message as chat messages (an Anthropic tool result becomes a `tool` one)."""
    if not isinstance(message, Mapping):
        return [{"role": default_role, "content": as_text(message)}]
    role = role_of(message, default=default_role)
    content = message.get("content")
    calls = [_tool_call(c) for c in message.get("tool_calls") or () if c is not None]
    if message.get("function_call") is not None:
        calls.append(_tool_call({"function": message["function_call"]}))
    found: list[Message] = []
    texts: list[str] = []
    if isinstance(content, list):
        for part in content:
            kind = part.get("type") if isinstance(part, Mapping) else None
            if kind == "tool_use":
                calls.append(_tool_call(part))
            elif kind == "tool_result" and isinstance(part, Mapping):
                found.append(
                    {
                        "role": "tool",
                        "tool_call_id": part.get("tool_use_id"),
                        "content": content_text(part.get("content") or ""),
                    }
                )
            else:
                texts.append(content_text([part]))
    elif content is not None:
        texts.append(content_text(content))
    text = "\n".join(t for t in texts if t)
    if text or calls or not found:
        said: Message = {"role": role, "content": text or None}
        if calls:
            said["tool_calls"] = calls
        if role == "tool" or message.get("tool_call_id") is not None:
            said["tool_call_id"] = message.get("tool_call_id")
        if isinstance(message.get("name"), str) and role != "tool":
            said["name"] = message["name"]
        found.append(said)
    return found


def _request(run: Run) -> list[Message]:
    """The messages an LLM run sent, in chat shape (its system text first)."""
    messages, system = input_messages(run.inputs)
    found: list[Message] = [] if system is None else [{"role": "system", "content": system}]
    if messages is None:
        if run.inputs is not None:
            found.append({"role": "user", "content": as_text(run.inputs)})
        return found
    for message in messages:
        found.extend(chat_messages_of(message))
    return found


def _answer(run: Run) -> list[Message]:
    if run.outputs is None:
        return []
    if isinstance(run.outputs, Mapping) and ("role" in run.outputs or "content" in run.outputs):
        return chat_messages_of(run.outputs, "assistant")
    return [{"role": "assistant", "content": content_text(run.outputs)}]


def chat_turns(runs: Iterable[Run]) -> list[tuple[Run, list[Message]]]:
    """Each LLM call of a conversation (runs in start order) with the chat messages it adds.

    Chat APIs resend the history: each call adds the messages after what the conversation
    holds so far, then its answer. A call whose history differs (edited, or not resent)
    adds those after its last assistant message.
    """
    runs = list(runs)
    nested = nested_llm_run_ids(runs)
    found: list[Message] = []
    turns: list[tuple[Run, list[Message]]] = []
    for run in runs:
        if run.kind is not RunKind.LLM or run.run_id in nested:
            continue
        request = _request(run)
        if request[: len(found)] == found:
            new = request[len(found) :]
        else:
            last = max((i for i, m in enumerate(request) if m["role"] == "assistant"), default=-1)
            new = [m for m in request[last + 1 :] if m["role"] != "system" or m not in found]
        said = new + _answer(run)
        found.extend(said)
        turns.append((run, said))
    return turns


def chat_messages(runs: Iterable[Run]) -> list[Message]:
    """A conversation's messages in chat shape, each once, from its runs in start order."""
    return [message for _, said in chat_turns(runs) for message in said]


def chat_record(summary: ConversationSummary, runs: Iterable[Run]) -> dict[str, Any] | None:
    """One conversation as a dataset line (None when it made no LLM call)."""
    runs = list(runs)
    messages = chat_messages(runs)
    if not messages:
        return None
    models = sorted({run.model for run in runs if run.kind is RunKind.LLM and run.model})
    return {
        "messages": to_jsonable(messages),
        "metadata": {
            "conversation_id": summary.conversation_id,
            "user_id": summary.user_id,
            "agent_id": summary.agent_id,
            "first_at": summary.first_at.isoformat(),
            "last_at": summary.last_at.isoformat(),
            "models": models,
            "llm_calls": summary.llm_count,
            "input_tokens": summary.input_tokens,
            "output_tokens": summary.output_tokens,
            "cost": summary.cost,
            "error_count": summary.error_count,
            "tools": list(summary.tools),
            "inferred": summary.inferred,
            "metadata": to_jsonable(summary.metadata),
        },
    }


def iter_conversations(
    store: ConversationStore, *, limit: int | None = None, **filters: Any
) -> Iterator[ConversationSummary]:
    """Every conversation matching `filters`, the most recently active first, read in pages.

    Raises:
        ValueError: a limit below 1, or a filter the store refuses.
    """
    check_limit(limit)
    cursor: str | None = None
    left = limit
    while True:
        size = _BATCH if left is None else min(_BATCH, left)
        page = store.conversations(size, before=cursor, **filters)
        yield from page
        left = None if left is None else left - len(page)
        if len(page) < size or left == 0:
            return
        cursor = next_cursor(page)


def export_conversations(
    store: ConversationStore, *, limit: int | None = None, **filters: Any
) -> Iterator[dict[str, Any]]:
    """Conversations as chat dataset records, the most recently active first.

    Args:
        store: a store with the query API (`SQLiteSink`, or any store like it).
        limit: at most this many conversations read (None: all).
        **filters: any filter of `store.conversations()` but `before` (user_id, agent_id,
            since, until, query, metadata, text, status).

    Yields:
        `{"messages": [...], "metadata": {...}}`; conversations without an LLM call are
        left out.

    Raises:
        ValueError: a filter the store refuses.
    """
    for summary in iter_conversations(store, limit=limit, **filters):
        record = chat_record(summary, store.runs(summary.conversation_id))
        if record is not None:
            yield record
