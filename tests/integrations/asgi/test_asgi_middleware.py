"""ConversationMiddleware on real Starlette and FastAPI apps, driven in-process by httpx."""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import subprocess
import sys
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import convtrack_asgi
import pytest
from asgi_support import ID_HEADER, ROUTES, client, drive, http_scope, plain_app
from convtrack_asgi import ConversationMiddleware
from convtrack_asgi import _recording as recording_module
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

import convtrack
from convtrack._context import get_raw
from convtrack.testing import CapturedRuns

AppFactory = Callable[..., Starlette]


def is_uuid7(value: str | None) -> bool:
    """Whether `value` is a canonical uuid7 string."""
    return value is not None and str(uuid.UUID(value)) == value and uuid.UUID(value).version == 7


async def test_header_is_honoured_and_echoed(make_app: AppFactory) -> None:
    """The id in the request header is the handler's conversation and comes back on the response."""
    async with client(make_app()) as http:
        response = await http.get("/whoami", headers={ID_HEADER: "conv-42"})
    assert response.json()["conversation_id"] == "conv-42"
    assert response.headers[ID_HEADER] == "conv-42"
    assert get_raw() is None


async def test_a_new_uuid7_is_generated_when_none_is_sent(make_app: AppFactory) -> None:
    """Without an id the request gets a fresh uuid7, echoed; two requests get two ids."""
    async with client(make_app()) as http:
        first = await http.get("/whoami")
        second = await http.get("/whoami")
    assert is_uuid7(first.json()["conversation_id"])
    assert first.headers[ID_HEADER] == first.json()["conversation_id"]
    assert first.json()["conversation_id"] != second.json()["conversation_id"]


async def test_a_custom_header_name_is_read_and_echoed(make_app: AppFactory) -> None:
    """`header_name` names both the request header read and the response header written."""
    async with client(make_app(header_name="X-Thread-Id")) as http:
        response = await http.get("/whoami", headers={"x-thread-id": "thread-7"})
    assert response.json()["conversation_id"] == "thread-7"
    assert response.headers["x-thread-id"] == "thread-7"
    assert ID_HEADER not in response.headers


async def test_echo_false_leaves_the_response_alone(make_app: AppFactory) -> None:
    """With `echo=False` the id is used but not sent back."""
    async with client(make_app(echo=False)) as http:
        response = await http.get("/whoami", headers={ID_HEADER: "conv-42"})
    assert response.json()["conversation_id"] == "conv-42"
    assert ID_HEADER not in response.headers


async def test_a_header_the_app_set_is_not_duplicated(make_app: AppFactory) -> None:
    """When the app sets the header itself (any case), the middleware does not add another."""
    async with client(make_app()) as http:
        response = await http.get("/preset", headers={ID_HEADER: "conv-42"})
    assert response.headers.get_list(ID_HEADER) == ["set-by-app"]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # Django sends names as written: the app's own header stays, alone.
        ([(b"X-Conversation-Id", b"set-by-app")], [(b"X-Conversation-Id", b"set-by-app")]),
        # Any iterable of 2-item iterables is read once and kept.
        (
            iter([[b"content-type", b"text/plain"]]),
            [(b"content-type", b"text/plain"), (b"x-conversation-id", b"conv-42")],
        ),
        ((), [(b"x-conversation-id", b"conv-42")]),
    ],
    ids=["mixed-case name", "iterator", "none"],
)
async def test_echo_with_any_shape_of_response_headers(
    headers: Any, expected: list[tuple[bytes, bytes]]
) -> None:
    """The echo copes with mixed-case names (no duplicate) and with any iterable of headers."""
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> Message:
        return {"type": "http.request"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = http_scope([(b"x-conversation-id", b"conv-42")])
    await ConversationMiddleware(app)(scope, receive, send)
    assert [(bytes(name), bytes(value)) for name, value in sent[0]["headers"]] == expected


async def test_invalid_id_is_replaced_and_logged_without_its_bytes(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """An invalid id is never used or echoed: a new uuid7 replaces it, with a constant warning."""
    caplog.set_level(logging.WARNING, logger="convtrack")
    async with client(make_app()) as http:
        response = await http.get("/whoami", headers={ID_HEADER: "bad id with spaces"})
    got = response.json()["conversation_id"]
    assert is_uuid7(got)
    assert response.headers[ID_HEADER] == got
    assert [r.getMessage() for r in caplog.records] == [
        "convtrack-asgi: ignored an invalid conversation id"
    ]
    assert "spaces" not in caplog.text


async def test_invalid_id_is_rejected_with_400_json_without_calling_the_app(
    captured: CapturedRuns,
) -> None:
    """With `on_invalid="reject"` the client gets 400 and a JSON error; the app never runs."""
    calls: list[str] = []

    async def handler(request: Request) -> Response:
        calls.append("called")
        return JSONResponse({})

    app = Starlette(routes=[Route("/", handler)])
    app.add_middleware(ConversationMiddleware, on_invalid="reject")
    async with client(app) as http:
        response = await http.get("/", headers={ID_HEADER: "x" * 129})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "invalid_conversation_id"
    assert ID_HEADER not in response.headers
    assert "x" * 129 not in response.text
    assert calls == []
    [run] = captured.runs
    assert (run.status, run.conversation_id, run.grouping) == ("ok", None, "none")
    assert run.metadata["status"] == 400


async def test_reject_mode_still_accepts_valid_and_missing_ids(make_app: AppFactory) -> None:
    """`on_invalid="reject"` only refuses invalid ids: valid ones are used, missing ones made."""
    async with client(make_app(on_invalid="reject")) as http:
        valid = await http.get("/whoami", headers={ID_HEADER: "conv-42"})
        missing = await http.get("/whoami")
    assert valid.json()["conversation_id"] == "conv-42"
    assert is_uuid7(missing.json()["conversation_id"])


async def test_a_custom_validator_replaces_the_default_rule(make_app: AppFactory) -> None:
    """`validator` decides alone: here ids must start with "t-", and longer ids are fine."""
    long_id = "t-" + "a" * 300
    app = make_app(validator=lambda value: value.startswith("t-"), on_invalid="reject")
    async with client(app) as http:
        accepted = await http.get("/whoami", headers={ID_HEADER: long_id})
        refused = await http.get("/whoami", headers={ID_HEADER: "conv-42"})
    assert accepted.json()["conversation_id"] == long_id
    assert accepted.headers[ID_HEADER] == long_id
    assert refused.status_code == 400
    assert refused.json()["detail"] == "the conversation id is not valid for this server"


async def test_a_validator_that_raises_refuses_the_id(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A failing validator refuses the id (logged by type only, not its message), never a 500."""

    def broken(value: str) -> bool:
        raise ValueError(f"validator bug on {value}")

    async with client(make_app(validator=broken)) as http:
        response = await http.get("/whoami", headers={ID_HEADER: "conv-42"})
    assert response.status_code == 200
    assert is_uuid7(response.json()["conversation_id"])
    assert [r.getMessage() for r in caplog.records] == [
        "convtrack: the conversation id validator (ValueError) failed",
        "convtrack-asgi: ignored an invalid conversation id",
    ]
    assert "conv-42" not in caplog.text


async def test_identical_duplicate_headers_count_once(make_app: AppFactory) -> None:
    """The same id sent twice is used."""
    async with client(make_app()) as http:
        response = await http.get(
            "/whoami", headers=[(ID_HEADER, "conv-42"), (ID_HEADER, "conv-42")]
        )
    assert response.json()["conversation_id"] == "conv-42"
    assert response.headers.get_list(ID_HEADER) == ["conv-42"]


async def test_differing_duplicate_headers_are_invalid(make_app: AppFactory) -> None:
    """Two different ids in one request are neither used: replaced, or rejected in reject mode."""
    headers = [(ID_HEADER, "conv-a"), (ID_HEADER, "conv-b")]
    async with client(make_app()) as http:
        replaced = await http.get("/whoami", headers=headers)
    async with client(make_app(on_invalid="reject")) as http:
        rejected = await http.get("/whoami", headers=headers)
    assert replaced.json()["conversation_id"] not in ("conv-a", "conv-b")
    assert is_uuid7(replaced.json()["conversation_id"])
    assert rejected.status_code == 400


async def test_query_parameter_serves_when_the_header_is_absent(make_app: AppFactory) -> None:
    """With `query_param`, the id comes from the query string; the header still wins."""
    app = make_app(query_param="conversation_id")
    async with client(app) as http:
        from_query = await http.get("/whoami", params={"conversation_id": "conv-q"})
        both = await http.get(
            "/whoami", params={"conversation_id": "conv-q"}, headers={ID_HEADER: "conv-h"}
        )
        encoded = await http.get("/whoami?conversation_id=a%2Fb%40c")
    assert from_query.json()["conversation_id"] == "conv-q"
    assert from_query.headers[ID_HEADER] == "conv-q"
    assert both.json()["conversation_id"] == "conv-h"
    assert encoded.json()["conversation_id"] == "a/b@c"


async def test_query_parameter_is_ignored_unless_configured(make_app: AppFactory) -> None:
    """Without `query_param`, a query string id is not used."""
    async with client(make_app()) as http:
        response = await http.get("/whoami", params={"conversation_id": "conv-q"})
    assert response.json()["conversation_id"] != "conv-q"


async def test_generate_false_runs_without_a_conversation(
    make_app: AppFactory, captured: CapturedRuns
) -> None:
    """With `generate=False` and no id, the app runs outside any conversation; one run, no group."""
    async with client(make_app(generate=False)) as http:
        response = await http.get("/whoami")
    assert response.json()["conversation_id"] is None
    assert ID_HEADER not in response.headers
    http_runs = [run for run in captured.runs if run.kind == "http"]
    assert [(run.conversation_id, run.grouping) for run in http_runs] == [(None, "none")]


async def test_generate_false_invalid_id_is_dropped(make_app: AppFactory) -> None:
    """With `generate=False`, replacing an invalid id means going on without one."""
    async with client(make_app(generate=False)) as http:
        response = await http.get("/whoami", headers={ID_HEADER: "bad\tid"})
    assert response.json()["conversation_id"] is None
    assert ID_HEADER not in response.headers


async def test_user_from_a_header(make_app: AppFactory) -> None:
    """`user_header_name` sets the conversation's user; an invalid user header is ignored."""
    app = make_app(user_header_name="x-user-id")
    async with client(app) as http:
        good = await http.get("/whoami", headers={"x-user-id": "user-alice"})
        bad = await http.get("/whoami", headers={"x-user-id": "alice smith"})
    assert good.json()["user_id"] == "user-alice"
    assert bad.json()["user_id"] is None
    assert bad.json()["conversation_id"] is not None


async def test_user_from_get_user_id_takes_precedence(make_app: AppFactory) -> None:
    """`get_user_id(scope)` sets the user (ints are stringified); None falls back to the header."""

    def from_auth(scope: dict[str, Any]) -> Any:
        token: bytes = dict(scope["headers"]).get(b"authorization", b"")
        return {b"Bearer alice": "user-alice", b"Bearer bob": 7}.get(token)

    app = make_app(get_user_id=from_auth, user_header_name="x-user-id")
    async with client(app) as http:
        alice = await http.get(
            "/whoami", headers={"authorization": "Bearer alice", "x-user-id": "other"}
        )
        bob = await http.get("/whoami", headers={"authorization": "Bearer bob"})
        anonymous = await http.get("/whoami", headers={"x-user-id": "user-header"})
    assert alice.json()["user_id"] == "user-alice"
    assert bob.json()["user_id"] == "7"
    assert anonymous.json()["user_id"] == "user-header"


async def test_a_failing_get_user_id_does_not_fail_the_request(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """When `get_user_id` raises or returns junk, the request goes on without a user."""

    def broken(scope: dict[str, Any]) -> str:
        raise KeyError("user")

    async with client(make_app(get_user_id=broken)) as http:
        raised = await http.get("/whoami")
    async with client(make_app(get_user_id=lambda scope: ["not", "an", "id"])) as http:
        junk = await http.get("/whoami")
    assert (raised.status_code, raised.json()["user_id"]) == (200, None)
    assert (junk.status_code, junk.json()["user_id"]) == (200, None)
    assert "convtrack: asgi get_user_id (KeyError) failed" in caplog.text
    assert "Traceback" not in caplog.text
    assert "returned neither str nor None" in caplog.text


async def test_an_enclosing_conversation_lends_its_agent_and_metadata(
    make_app: AppFactory,
) -> None:
    """Called in-process inside a conversation, the request keeps the outer agent and metadata."""
    seen_inside: list[convtrack.Conversation | None] = []

    async def handler(request: Request) -> Response:
        seen_inside.append(convtrack.current())
        return JSONResponse({})

    app = Starlette(routes=[Route("/", handler)])
    app.add_middleware(ConversationMiddleware)
    with convtrack.conversation("outer", agent_id="agent-1", metadata={"tenant": "t1"}):
        async with client(app) as http:
            await http.get("/", headers={ID_HEADER: "inner"})
        assert convtrack.get_conversation_id() == "outer"
    [conv] = seen_inside
    assert conv is not None
    assert (conv.conversation_id, conv.agent_id, dict(conv.metadata)) == (
        "inner",
        "agent-1",
        {"tenant": "t1"},
    )


async def test_300_concurrent_requests_each_see_their_own_id(
    make_app: AppFactory, captured: CapturedRuns
) -> None:
    """Concurrent requests interleave on one loop, yet each handler sees its own conversation."""
    ids = [f"conv-{i}" for i in range(300)]
    async with client(make_app()) as http:
        responses = await asyncio.gather(
            *(http.get("/whoami", headers={ID_HEADER: cid}) for cid in ids)
        )
    assert [r.json()["conversation_id"] for r in responses] == ids
    assert [r.headers[ID_HEADER] for r in responses] == ids
    assert [r.json()["answer"] for r in responses] == [f"echo: hi ({cid})" for cid in ids]
    by_conversation = captured.by_conversation()
    assert sorted(by_conversation, key=str) == sorted(ids)
    assert all(len(runs) == 2 for runs in by_conversation.values())  # http run + traced step
    assert get_raw() is None


async def test_the_conversation_holds_through_a_streamed_body(make_app: AppFactory) -> None:
    """Chunks produced by a streaming response's generator are produced inside the conversation."""
    async with client(make_app()) as http:
        response = await http.get("/stream", headers={ID_HEADER: "conv-stream"})
    assert response.text.splitlines() == ["conv-stream"] * 3
    assert response.headers[ID_HEADER] == "conv-stream"


async def test_fastapi_async_and_sync_endpoints_see_the_conversation(
    make_fastapi: Callable[..., FastAPI], captured: CapturedRuns
) -> None:
    """Async endpoints and sync ones (run in the threadpool) both see the id; steps are children."""
    async with client(make_fastapi()) as http:
        async_response = await http.get("/async/5", headers={ID_HEADER: "conv-async"})
        sync_response = await http.get("/sync", headers={ID_HEADER: "conv-sync"})
    assert async_response.json()["conversation_id"] == "conv-async"
    assert sync_response.json()["conversation_id"] == "conv-sync"
    assert sync_response.json()["answer"] == "echo: sync (conv-sync)"
    http_runs = {run.name: run for run in captured.runs if run.kind == "http"}
    steps = {run.conversation_id: run for run in captured.runs if run.kind == "function"}
    assert steps["conv-async"].parent_run_id == http_runs["GET /async/{item_id}"].run_id
    assert steps["conv-sync"].parent_run_id == http_runs["GET /sync"].run_id


async def test_one_http_run_per_request_with_route_method_and_status(
    make_app: AppFactory, captured: CapturedRuns
) -> None:
    """A request records one `http` run named by its route template, with method/path/status."""
    async with client(make_app(user_header_name="x-user-id")) as http:
        await http.get("/items/42", headers={ID_HEADER: "conv-42", "x-user-id": "user-alice"})
    [run] = captured.runs
    assert (run.kind, run.name, run.source) == ("http", "GET /items/{item_id}", "asgi")
    assert (run.conversation_id, run.user_id, run.grouping) == ("conv-42", "user-alice", "context")
    assert (run.status, run.error, run.parent_run_id) == ("ok", None, None)
    assert dict(run.metadata) == {
        "method": "GET",
        "path": "/items/42",
        "route": "/items/{item_id}",
        "status": 200,
    }
    assert run.ended_at >= run.started_at


async def test_route_templates_of_mounted_apps_and_unmatched_paths(
    captured: CapturedRuns,
) -> None:
    """A route inside a Mount is named with the mount prefix; an unmatched path by the path."""

    async def handler(request: Request) -> Response:
        return JSONResponse({})

    inner = Starlette(routes=[Route("/things/{thing_id}", handler)])
    app = Starlette(routes=[Mount("/api", app=inner)])
    app.add_middleware(ConversationMiddleware)
    async with client(app) as http:
        await http.get("/api/things/9")
        await http.get("/nowhere")
    assert [(run.name, run.metadata["status"]) for run in captured.runs] == [
        ("GET /api/things/{thing_id}", 200),
        ("GET /nowhere", 404),
    ]


async def test_a_path_template_left_by_the_framework_names_the_run(
    captured: CapturedRuns,
) -> None:
    """A framework that leaves `scope["path_template"]` (Litestar) names the run with it."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["path_template"] = "/users/{user_id:int}"
        await plain_app(scope, receive, send)

    async with client(ConversationMiddleware(app)) as http:
        await http.get("/users/3")
    assert [run.name for run in captured.runs] == ["GET /users/{user_id:int}"]


async def test_traced_steps_in_the_handler_are_children_of_the_http_run(
    make_app: AppFactory, captured: CapturedRuns
) -> None:
    """`@convtrack.trace()` steps called by a handler are children of the request's run."""
    async with client(make_app()) as http:
        await http.get("/whoami", headers={ID_HEADER: "conv-42"})
    step, request_run = captured.runs
    assert (step.kind, request_run.kind) == ("function", "http")
    assert step.parent_run_id == request_run.run_id
    assert step.root_run_id == request_run.run_id
    assert step.conversation_id == request_run.conversation_id == "conv-42"


async def test_the_apps_exception_is_recorded_and_reraised(
    make_app: AppFactory, captured: CapturedRuns
) -> None:
    """An exception from the app ends the run as an error (status 500) and reaches the server."""
    async with client(make_app()) as http:
        with pytest.raises(RuntimeError, match="handler failed"):
            await http.get("/boom", headers={ID_HEADER: "conv-42"})
    [run] = captured.runs
    assert (run.status, run.error) == ("error", "RuntimeError: handler failed")
    assert run.metadata["status"] == 500
    assert get_raw() is None


async def test_the_exception_object_is_reraised_unchanged(captured: CapturedRuns) -> None:
    """The very exception object the app raised propagates, after the response started too."""
    failure = ValueError("mid-stream")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise failure

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        return None

    with pytest.raises(ValueError) as raised:
        await ConversationMiddleware(app)(http_scope(), receive, send)
    assert raised.value is failure
    [run] = captured.runs
    assert (run.status, run.metadata["status"]) == ("error", 200)


async def test_a_5xx_answer_marks_the_run_as_an_error(
    make_app: AppFactory, captured: CapturedRuns
) -> None:
    """A server-error status without an exception still marks the run (as OpenTelemetry does)."""
    async with client(make_app()) as http:
        response = await http.get("/unavailable")
    assert response.status_code == 503
    [run] = captured.runs
    assert (run.status, run.error, run.metadata["status"]) == ("error", "HTTP 503", 503)


async def test_no_run_work_at_all_when_not_configured(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before `configure()`, requests are served with their conversation but no run is started."""

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a run started while convtrack is not configured")

    monkeypatch.setattr(recording_module, "start_run", forbidden)
    async with client(make_app()) as http:
        response = await http.get("/whoami", headers={ID_HEADER: "conv-42"})
    assert response.json()["conversation_id"] == "conv-42"
    assert response.headers[ID_HEADER] == "conv-42"
    sink = convtrack.MemorySink()
    convtrack.configure([sink], grouping=False)
    convtrack.flush()
    assert sink.runs == ()


async def test_a_failure_to_start_the_run_does_not_break_the_request(
    make_app: AppFactory, captured: CapturedRuns, monkeypatch: pytest.MonkeyPatch
) -> None:
    """convtrack's own failure is logged; the request is served inside its conversation anyway."""

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("core bug")

    monkeypatch.setattr(recording_module, "start_run", broken)
    async with client(make_app()) as http:
        response = await http.get("/whoami", headers={ID_HEADER: "conv-42"})
    assert response.status_code == 200
    assert response.json()["conversation_id"] == "conv-42"
    assert response.headers[ID_HEADER] == "conv-42"


async def test_lifespan_passes_straight_through(captured: CapturedRuns) -> None:
    """Lifespan events reach the app untouched (same scope and receive) and record nothing."""
    calls: list[tuple[Any, Any, Any]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append((scope, receive, send))
        assert convtrack.get_conversation_id() is None

    scope: dict[str, Any] = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        return None

    await ConversationMiddleware(app)(scope, receive, send)
    await ConversationMiddleware(app)({"type": "custom-extension"}, receive, send)
    assert calls[0][:2] == (scope, receive)
    assert calls[1] == ({"type": "custom-extension"}, receive, send)
    assert captured.runs == ()


async def test_lifespan_shutdown_flushes_before_the_server_hears_of_it() -> None:
    """The runs waiting reach the sinks before `lifespan.shutdown.complete` is passed on."""
    sink = convtrack.MemorySink()
    convtrack.configure([sink], grouping=False, export_interval=60)  # nothing leaves by itself
    heard: list[tuple[str, int]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    async def receive() -> Message:
        return {"type": "lifespan.shutdown"}

    async def send(message: Message) -> None:
        heard.append((message["type"], len(sink.runs)))

    for _ in range(20):
        with convtrack.trace("served"):
            pass
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    await ConversationMiddleware(app)(scope, receive, send)
    assert heard == [("lifespan.shutdown.complete", 20)]


def test_a_starlette_lifespan_runs_behind_the_middleware(make_app: AppFactory) -> None:
    """A Starlette app's lifespan (startup state) works with the middleware added."""
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        events.append("startup")
        yield {"ready": True}
        events.append("shutdown")

    app = Starlette(routes=ROUTES, lifespan=lifespan)
    app.add_middleware(ConversationMiddleware)
    with TestClient(app) as test_client:
        assert test_client.get("/whoami", headers={ID_HEADER: "conv-1"}).status_code == 200
    assert events == ["startup", "shutdown"]


async def test_wrapping_directly_equals_add_middleware(captured: CapturedRuns) -> None:
    """`ConversationMiddleware(app)` around any ASGI app works like `add_middleware`."""
    async with client(ConversationMiddleware(plain_app)) as http:
        response = await http.get("/anything", headers={ID_HEADER: "conv-42"})
    assert (response.status_code, response.headers[ID_HEADER]) == (200, "conv-42")
    assert [run.name for run in captured.runs] == ["GET /anything"]


async def test_the_raw_driver_sees_the_same_behaviour() -> None:
    """Driven with raw ASGI messages, the app sees the id and the response carries it."""
    exchange = await drive([(b"x-conversation-id", b"conv-42")])
    assert (exchange.called, exchange.conversation_id) == (True, "conv-42")
    assert exchange.header_values(b"x-conversation-id") == [b"conv-42"]
    assert exchange.header_values(b"x-app") == [b"1"]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"header_name": ""}, ValueError, "header_name"),
        ({"header_name": "bad header"}, ValueError, "header_name"),
        ({"header_name": b"x-id"}, TypeError, "header_name must be a str"),
        ({"user_header_name": "X-Conversation-Id"}, ValueError, "must differ"),
        ({"user_header_name": "a:b"}, ValueError, "user_header_name"),
        ({"query_param": ""}, TypeError, "query_param"),
        ({"generate": "yes"}, TypeError, "generate must be a bool"),
        ({"echo": 1}, TypeError, "echo must be a bool"),
        ({"validator": "^[a-z]+$"}, TypeError, "validator must be callable"),
        ({"get_user_id": "user"}, TypeError, "get_user_id must be callable"),
        ({"on_invalid": "drop"}, ValueError, "on_invalid"),
    ],
)
def test_constructor_arguments_are_checked(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    """Wrong constructor arguments fail at once with a clear TypeError or ValueError."""
    with pytest.raises(error, match=message):
        ConversationMiddleware(plain_app, **options)


def test_the_app_must_be_callable() -> None:
    """Wrapping something that is not an ASGI app is a TypeError."""
    with pytest.raises(TypeError, match="ASGI application"):
        ConversationMiddleware("app")  # type: ignore[arg-type]


def test_the_public_api_is_sorted_and_complete() -> None:
    """`__all__` is sorted and names exactly the public API."""
    assert convtrack_asgi.__all__ == sorted(convtrack_asgi.__all__)
    assert convtrack_asgi.__all__ == ["ConversationMiddleware"]
    public = {name for name in vars(convtrack_asgi) if not name.startswith("_")}
    assert public - {"annotations"} == set(convtrack_asgi.__all__)


def test_the_distribution_depends_on_convtrack_only() -> None:
    """convtrack-asgi needs no web framework: its only requirement is convtrack."""
    assert importlib.metadata.requires("convtrack-asgi") == ["convtrack<0.2,>=0.1.0"]
    code = "import sys, convtrack_asgi; print(sorted({'starlette', 'fastapi'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
    assert (Path(convtrack_asgi.__file__).parent / "py.typed").is_file()


async def test_the_transport_error_path_keeps_the_context_clean(make_app: AppFactory) -> None:
    """With the app's exceptions turned into 500s by the transport, nothing leaks either."""
    async with client(make_app(), raise_app_exceptions=False) as http:
        response = await http.get("/boom", headers={ID_HEADER: "conv-42"})
    assert response.status_code == 500
    assert get_raw() is None
