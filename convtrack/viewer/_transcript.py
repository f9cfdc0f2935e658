"""A conversation's transcript, read off its LLM runs: what the user said, what the model said.

The integrations record an LLM run as `inputs = {"messages": [...], "system": ...}` and
`outputs` = the assistant message. Chat APIs resend the whole history, so each run's new
messages are those after the previous run's history (its messages and its answer); when
that history does not match (an edited or different thread), those after the input's last
assistant message. Any other shape is shown as JSON text: nothing here raises on odd data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._runs import Run, RunKind, nested_llm_run_ids
from ..sinks._text import answer_text, as_text, content_text, input_messages, message_text, role_of

Message = dict[str, str]

__all__ = ["content_text", "message_text", "role_of", "transcript"]


def transcript(runs: Iterable[Run]) -> list[tuple[Run, list[Message]]]:
    """Each LLM run of `runs` (taken in the order given) with the messages it adds.

    Returns:
        `(run, messages)` pairs; each message is `{"run_id", "role", "text"}`, the new input
        messages first, then the answer (or the error).
    """
    turns: list[tuple[Run, list[Message]]] = []
    history: list[Any] | None = None
    last_system: str | None = None
    runs = list(runs)
    nested = nested_llm_run_ids(runs)  # the same model calls as their outer LLM runs
    for run in runs:
        if run.kind is not RunKind.LLM or run.run_id in nested:
            continue
        said: list[tuple[str, str]] = []
        messages, system = input_messages(run.inputs)
        if system is not None and system != last_system:
            said.append(("system", system))
            last_system = system
        if messages is None:
            if run.inputs is not None:
                said.append(("input", as_text(run.inputs)))
        else:
            said.extend((role_of(m), message_text(m)) for m in _new_messages(messages, history))
        if run.outputs is not None:
            said.append(answer_text(run.outputs))
        if run.status == "error":
            said.append(("error", run.error or "error"))
        history = None if messages is None else [*messages, *_as_list(run.outputs)]
        turns.append((run, [{"run_id": run.run_id, "role": r, "text": t} for r, t in said]))
    return turns


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else [value]


def _new_messages(messages: list[Any], history: list[Any] | None) -> list[Any]:
    """The messages of this request that the previous turn had not shown."""
    if history is None:
        return messages
    if len(history) <= len(messages) and messages[: len(history)] == history:
        return messages[len(history) :]
    for index in range(len(messages) - 1, -1, -1):
        if role_of(messages[index]) == "assistant":
            return messages[index + 1 :]
    return messages
