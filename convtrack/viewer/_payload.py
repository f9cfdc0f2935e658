"""The JSON the viewer's API answers with: conversation summaries, run trees, transcripts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._events import Feedback
from .._json import to_jsonable
from .._runs import Run
from .._serialize import run_to_dict
from ..sinks import ConversationSummary
from ..sinks._summary import summarise
from ..sinks._usage import tokens_of
from ._transcript import transcript

MAX_TREE_DEPTH = 48  # deeper runs hang from their ancestor at this depth (JSON nesting stays low)


def summary_to_dict(summary: ConversationSummary) -> dict[str, Any]:
    """A JSON-ready dict of one conversation summary (times as ISO 8601 UTC)."""
    return {
        "conversation_id": summary.conversation_id,
        "user_id": summary.user_id,
        "agent_id": summary.agent_id,
        "first_at": summary.first_at.isoformat(),
        "last_at": summary.last_at.isoformat(),
        "run_count": summary.run_count,
        "llm_count": summary.llm_count,
        "inferred": summary.inferred,
        "input_tokens": summary.input_tokens,
        "output_tokens": summary.output_tokens,
        "cost": summary.cost,
        "error_count": summary.error_count,
        "first_input": summary.first_input,
        "last_output": summary.last_output,
        "tools": list(summary.tools),
        "metadata": to_jsonable(summary.metadata),
        "ended_at": None if summary.ended_at is None else summary.ended_at.isoformat(),
        "feedback_count": summary.feedback_count,
    }


def feedback_to_dict(given: Feedback) -> dict[str, Any]:
    """A JSON-ready dict of one feedback record (on the conversation, or on `run_id`)."""
    return {
        "feedback_id": given.feedback_id,
        "run_id": given.run_id,
        "key": given.key,
        "score": given.score,
        "value": to_jsonable(given.value),
        "comment": given.comment,
        "user_id": given.user_id,
        "created_at": given.created_at.isoformat(),
    }


def tokens(usage: Mapping[str, Any] | None) -> dict[str, int] | None:
    """Input, output and total tokens of a run's usage, whichever naming it uses (or None)."""
    found = tokens_of(usage)
    if found is None:
        return None
    return {"input": found.input, "output": found.output, "total": found.total}


def _parents(runs: Sequence[Run]) -> dict[str, str | None]:
    """Each run's parent within `runs`: cycles cut, depth capped at `MAX_TREE_DEPTH`."""
    known = {run.run_id for run in runs}
    parent: dict[str, str | None] = {
        run.run_id: run.parent_run_id
        if run.parent_run_id in known and run.parent_run_id != run.run_id
        else None
        for run in runs
    }
    depth: dict[str, int] = {}
    for run in runs:
        path: list[str] = []
        on_path: set[str] = set()
        current: str | None = run.run_id
        while current is not None and current not in depth:
            if current in on_path:  # a loop of parents: the last link closes it; cut there
                parent[path[-1]] = None
                break
            on_path.add(current)
            path.append(current)
            current = parent[current]
        for run_id in reversed(path):
            above = parent[run_id]
            if above is None:
                depth[run_id] = 0
            elif depth[above] < MAX_TREE_DEPTH:
                depth[run_id] = depth[above] + 1
            else:  # too deep: a sibling of its parent instead
                parent[run_id] = parent[above]
                depth[run_id] = depth[above]
    return parent


def _node(run: Run) -> dict[str, Any]:
    node = run_to_dict(run)
    node["duration_ms"] = round(run.duration_ms, 3)
    node["tokens"] = tokens(run.usage)
    node["children"] = []
    return node


def conversation_payload(
    conversation_id: str,
    runs: Sequence[Run],
    stored: ConversationSummary | None = None,
    feedback: Sequence[Feedback] = (),
) -> dict[str, Any]:
    """The answer of `GET /api/conversations/{id}`: a summary, the run tree and the transcript.

    Args:
        conversation_id: the conversation.
        runs: its runs, in start order (not empty).
        stored: its row in the store, for what runs do not say (whether it ended).
        feedback: the feedback on it and its runs, oldest first.

    Returns:
        `summary` (ids, times, counts, tokens, `ended_at`), `runs` (the top-level runs in
        start order, each with its `children`, recursively), `turns`: for each top-level run
        holding LLM calls, `{"root_run_id", "messages": [{"run_id", "role", "text"}]}`, and
        `feedback` (each record's key, score, value, comment and `run_id`).
    """
    parent = _parents(runs)
    nodes = {run.run_id: _node(run) for run in runs}
    roots: list[dict[str, Any]] = []
    for run in runs:
        above = parent[run.run_id]
        (roots if above is None else nodes[above]["children"]).append(nodes[run.run_id])

    def top(run_id: str) -> str:
        while (above := parent[run_id]) is not None:
            run_id = above
        return run_id

    turns: dict[str, list[dict[str, str]]] = {}
    for run, messages in transcript(runs):
        turns.setdefault(top(run.run_id), []).extend(messages)
    summary = _summary(conversation_id, runs)
    if stored is not None:
        summary["ended_at"] = None if stored.ended_at is None else stored.ended_at.isoformat()
    summary["feedback_count"] = len(feedback)
    return {
        "conversation_id": conversation_id,
        "summary": summary,
        "feedback": [feedback_to_dict(given) for given in feedback],
        "runs": roots,
        "turns": [{"root_run_id": root, "messages": said} for root, said in turns.items()],
    }


def _summary(conversation_id: str, runs: Sequence[Run]) -> dict[str, Any]:
    summary = summarise(conversation_id, runs)
    found = summary_to_dict(summary)
    found["tokens"] = {
        "input": summary.input_tokens,
        "output": summary.output_tokens,
        "total": summary.input_tokens + summary.output_tokens,
    }
    return found
