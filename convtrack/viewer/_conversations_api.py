"""The conversations half of the viewer's JSON API: `GET /api/conversations` (the filtered
list, a page at a time) and `GET /api/conversations/{id}` (one, with its runs)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._json import dumps
from ..sinks import next_cursor
from ._params import BadRequestError, ListQuery, cache_key, parse_list_query
from ._payload import conversation_payload, summary_to_dict
from ._responses import cached, error
from ._store import ViewerStore


def conversation_routes(store: ViewerStore) -> list[Route]:
    """The routes of the list and of one conversation, over `store`."""

    def list_conversations(request: Request) -> Response:
        params = request.query_params
        metadata = params.getlist("metadata")
        try:
            query = parse_list_query(params, multi=metadata)
        except BadRequestError as exc:
            return error(400, str(exc))
        try:
            answer = store.answer(
                "list\x00" + cache_key(params, metadata), lambda: _page(store, query)
            )
        except ValueError as exc:  # a filter the store refuses (status, cursor, metadata)
            return error(400, str(exc))
        return cached(request, answer.body or b"", "application/json", answer.etag)

    def show_conversation(request: Request) -> Response:
        conversation_id: str = request.path_params["conversation_id"]
        answer = store.answer(
            "conversation\x00" + conversation_id, lambda: _conversation(store, conversation_id)
        )
        if answer.body is None:
            return error(404, f"no conversation {conversation_id!r}")
        return cached(request, answer.body, "application/json", answer.etag)

    return [
        Route("/api/conversations", list_conversations),
        Route("/api/conversations/{conversation_id:path}", show_conversation),
    ]


def _page(store: ViewerStore, query: ListQuery) -> bytes:
    """The JSON body of one page of the list."""
    summaries = store.sink.conversations(
        query.limit,
        user_id=query.user_id,
        agent_id=query.agent_id,
        since=query.since,
        until=query.until,
        query=query.query,
        metadata=query.metadata,
        text=query.text,
        status=query.status,
        before=query.before,
        feedback=query.feedback,
        ended=query.ended,
    )
    payload = {
        "db": store.path.name,
        "limit": query.limit,
        "conversations": [summary_to_dict(s) for s in summaries],
        "next_cursor": next_cursor(summaries) if len(summaries) == query.limit else None,
    }
    return dumps(payload).encode()


def _conversation(store: ViewerStore, conversation_id: str) -> bytes | None:
    """The JSON body of one conversation (None when it has no runs)."""
    runs = store.sink.runs(conversation_id)
    if not runs:
        return None
    stored = store.sink.conversation(conversation_id)
    feedback = store.sink.feedback(conversation_id)
    return dumps(conversation_payload(conversation_id, runs, stored, feedback)).encode()
