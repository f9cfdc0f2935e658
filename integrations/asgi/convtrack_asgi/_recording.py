"""A connection recorded as one `http` run: its status, name, route and error."""

from __future__ import annotations

from collections.abc import Awaitable

from convtrack.instrumentation import (
    Conversation,
    RunHandle,
    RunKind,
    attach,
    current_conversation,
    detach,
    printable,
    report,
    start_run,
)

from ._baggage import Caller
from ._http import (
    START_MESSAGES,
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    add_header,
    route_template,
)

_HTTP = RunKind.HTTP  # read once: a member lookup on the enum class is not free


async def call_recorded(
    app: ASGIApp,
    header: bytes,
    scope: Scope,
    receive: Receive,
    send: Send,
    conv: Conversation | None,
    echoed: bytes | None,
    caller: Caller | None,
) -> None:
    """Call `app` inside the conversation, recording one `http` run for the connection
    (nested under the calling run of another process, when the baggage names it)."""
    status: int | None = None
    close_code: int | None = None
    hdr = header
    root = scope.get("root_path", "")  # Starlette mounts extend it while routing

    def send_recording(message: Message) -> Awaitable[None]:
        nonlocal status, close_code
        kind = message["type"]
        if kind in START_MESSAGES:
            status = 101 if kind == "websocket.accept" else message.get("status")
            if echoed is not None:
                add_header(message, hdr, echoed)
        elif kind == "websocket.close":
            close_code = message.get("code", 1000)
            if status is None:
                status = 403  # closed before accept: the server denies the handshake
        return send(message)

    run: RunHandle | None = None
    run_token = None
    token = attach(conv) if conv is not current_conversation() else None
    try:
        try:  # the request's run is a root; the core decides its conversation (the context)
            run = start_run(_HTTP, "", source="asgi", parent=None)
            if caller is not None and caller.root_run_id is not None and run:
                run.parent_run_id, run.root_run_id = caller.parent_run_id, caller.root_run_id
            run_token = run.activate()
        except Exception as exc:
            report("asgi (starting the http run)", exc)
        await app(scope, receive, send_recording)
    except BaseException as exc:
        if run:
            _finish(run, scope, root, status, close_code, exc)
        raise
    finally:
        if token is not None:
            detach(token)
        if run_token is not None:
            RunHandle.deactivate(run_token)
    if run:
        _finish(run, scope, root, status, close_code, None)


def _finish(
    run: RunHandle,
    scope: Scope,
    root_path: str,
    status: int | None,
    close_code: int | None,
    error: BaseException | None,
) -> None:
    """End the http run: name from the route template, method, path, status."""
    try:
        path = printable(scope.get("path", ""))  # a client chooses it: shown as text
        route = route_template(scope, root_path)
        if scope["type"] == "http":
            method = scope.get("method", "GET")
            if status is None:
                status = 500  # what the server answers when the app sent no response
            run.metadata = {"method": method, "path": path, "route": route, "status": status}
        else:
            method = "WEBSOCKET"
            meta = {"websocket": True, "path": path, "route": route, "status": status}
            if close_code is not None:
                meta["close_code"] = close_code
            run.metadata = meta
        run.name = f"{method} {route or path}"
        if error is not None:
            run.end(error=error)
        elif status is None:
            run.end(error="closed without accepting or answering")
        elif status >= 500:
            run.end(error=f"HTTP {status}")
        else:
            run.end_ok()
    except Exception as exc:
        report("asgi (ending the http run)", exc)
