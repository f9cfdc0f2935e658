"""The runs half of the viewer's JSON API: `GET /api/runs` (search) and `GET /api/runs/{id}`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._json import dumps
from .._runs import Run
from .._serialize import run_to_dict
from ..sinks import next_run_cursor
from ._params import (
    DEFAULT_LIMIT,
    BadRequestError,
    parse_limit,
    parse_metadata,
    parse_since,
)
from ._payload import tokens
from ._responses import cached, error
from ._store import ViewerStore

RUN_FILTERS = (
    "conversation_id",
    "kind",
    "status",
    "model",
    "metadata",
    "text",
    "since",
    "until",
    "before",
    "limit",
)


@dataclass(frozen=True)
class RunsQuery:
    """What `GET /api/runs` asks the store for (`filters` as `search_runs` takes them)."""

    limit: int = DEFAULT_LIMIT
    filters: dict[str, Any] = field(default_factory=dict)


def parse_runs_query(
    params: Mapping[str, str], multi: list[str], now: datetime | None = None
) -> RunsQuery:
    """The filters of `GET /api/runs`; empty values count as absent.

    Raises:
        BadRequestError: an unknown parameter, or a time, limit or metadata it cannot use.
    """
    unknown = sorted(set(params) - set(RUN_FILTERS))
    if unknown:
        known = ", ".join(RUN_FILTERS)
        raise BadRequestError(f"{unknown[0]!r:.80}: unknown parameter (known: {known})")
    given = {name: params.get(name) or None for name in RUN_FILTERS}
    filters: dict[str, Any] = {
        name: given[name]
        for name in ("conversation_id", "kind", "status", "model", "text", "before")
        if given[name] is not None
    }
    for name in ("since", "until"):
        if given[name] is not None:
            filters[name] = parse_since(str(given[name]), now, name)
    metadata = parse_metadata(multi)
    if metadata is not None:
        filters["metadata"] = metadata
    limit = given["limit"]
    return RunsQuery(DEFAULT_LIMIT if limit is None else parse_limit(limit), filters)


def run_payload(run: Run) -> dict[str, Any]:
    """One run as the API answers it: every field, its duration and its tokens."""
    found = run_to_dict(run)
    found["duration_ms"] = round(run.duration_ms, 3)
    found["tokens"] = tokens(run.usage)
    return found


def run_routes(store: ViewerStore) -> list[Route]:
    """The routes of `GET /api/runs` and `GET /api/runs/{run_id}` over `store`."""

    def search_runs(request: Request) -> Response:
        params = request.query_params
        metadata = params.getlist("metadata")
        try:
            query = parse_runs_query(params, metadata)
        except BadRequestError as exc:
            return error(400, str(exc))

        def build() -> bytes:
            runs = store.sink.search_runs(query.limit, **query.filters)
            full = len(runs) == query.limit
            return dumps(
                {
                    "limit": query.limit,
                    "runs": [run_payload(run) for run in runs],
                    "next_cursor": next_run_cursor(runs) if full else None,
                }
            ).encode()

        key = "runs\x00" + repr(sorted(params.multi_items()))
        try:
            answer = store.answer(key, build)
        except ValueError as exc:  # a filter the store refuses (kind, status, cursor, metadata)
            return error(400, str(exc))
        return cached(request, answer.body or b"", "application/json", answer.etag)

    def show_run(request: Request) -> Response:
        run_id: str = request.path_params["run_id"]

        def build() -> bytes | None:
            try:
                run = store.sink.run(run_id)
            except ValueError:  # an id the store refuses (too long): no such run
                return None
            return None if run is None else dumps(run_payload(run)).encode()

        answer = store.answer("run\x00" + run_id, build)
        if answer.body is None:
            return error(404, f"no run {run_id!r:.200}")
        return cached(request, answer.body, "application/json", answer.etag)

    return [Route("/api/runs", search_runs), Route("/api/runs/{run_id:path}", show_run)]
