"""Run <-> plain dict (JSON lines, export, the viewer's API): one place decides the shape."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ._context import EMPTY_METADATA
from ._json import to_jsonable
from ._runs import Run, RunKind


def run_to_dict(run: Run) -> dict[str, Any]:
    """A JSON-ready dict of `run` (datetimes as ISO 8601 UTC strings)."""
    return {
        "run_id": run.run_id,
        "parent_run_id": run.parent_run_id,
        "root_run_id": run.root_run_id,
        "conversation_id": run.conversation_id,
        "user_id": run.user_id,
        "agent_id": run.agent_id,
        "kind": run.kind.value,
        "name": run.name,
        "source": run.source,
        "grouping": run.grouping,
        "started_at": run.started_at.isoformat(),
        "ended_at": run.ended_at.isoformat(),
        "status": run.status,
        "error": run.error,
        "model": run.model,
        "inputs": to_jsonable(run.inputs),
        "outputs": to_jsonable(run.outputs),
        "usage": to_jsonable(run.usage),
        "metadata": to_jsonable(run.metadata),
    }


def run_from_dict(data: dict[str, Any]) -> Run:
    """Rebuild a Run from `run_to_dict` output."""
    return Run(
        run_id=data["run_id"],
        parent_run_id=data.get("parent_run_id"),
        root_run_id=data.get("root_run_id") or data["run_id"],
        conversation_id=data.get("conversation_id"),
        user_id=data.get("user_id"),
        agent_id=data.get("agent_id"),
        kind=RunKind(data.get("kind", "function")),
        name=data.get("name", ""),
        source=data.get("source", ""),
        grouping=data.get("grouping", "none"),
        started_at=datetime.fromisoformat(data["started_at"]),
        ended_at=datetime.fromisoformat(data["ended_at"]),
        status=data.get("status", "ok"),
        error=data.get("error"),
        model=data.get("model"),
        inputs=data.get("inputs"),
        outputs=data.get("outputs"),
        usage=data.get("usage"),
        metadata=data.get("metadata") or EMPTY_METADATA,
    )
