"""ASGI helpers: ids read and checked from requests, echoed on responses; route templates."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes

from convtrack.instrumentation import has_unsafe, report

MAX_LENGTH = 128
# The default alphabet: letters, digits and . _ : @ / + = -
ALLOWED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@/+=-"
# Bytes no id may ever hold, whatever the validator: C0 controls (CR, LF, NUL, ...) and DEL.
_CONTROL = bytes([*range(0x20), 0x7F])
# RFC 9110 token characters: what a header name may be made of.
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

Validator = Callable[[str], bool]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONFLICT = b"\x00"  # stands for duplicates that differ: a NUL is never a valid id
START_MESSAGES = frozenset(
    {"http.response.start", "websocket.accept", "websocket.http.response.start"}
)


def accept(raw: bytes, validator: Validator | None) -> str | None:
    """Return `raw` as an id when it passes the rule, else None.

    With a custom validator the id is decoded as UTF-8, strictly, and ids holding a
    character that could never be echoed, stored or shown safely (C0 and C1 controls, DEL,
    Unicode format and bidi characters, line separators) are refused before it is called:
    the validator narrows the rule, never widens it. A validator that raises refuses the id.
    """
    if validator is None:
        if 0 < len(raw) <= MAX_LENGTH and not raw.translate(None, ALLOWED):
            return raw.decode("ascii")
        return None
    if not raw or len(raw.translate(None, _CONTROL)) != len(raw):
        return None
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if has_unsafe(value):
        return None
    try:
        ok = validator(value)
    except Exception as exc:
        # By type only: the message of an exception about client input may quote that input.
        report(f"the conversation id validator ({type(exc).__name__})")
        return None
    return value if ok else None


def find_query_values(query_string: bytes, key: bytes) -> list[bytes]:
    """Every value of `key` in an urlencoded query string, percent-decoded, in order."""
    values: list[bytes] = []
    if key not in query_string and b"%" not in query_string and b"+" not in query_string:
        return values  # the common case: a query without the parameter at all
    for part in query_string.split(b"&"):
        name, sep, value = part.partition(b"=")
        if b"%" in name or b"+" in name:
            name = unquote_to_bytes(name.replace(b"+", b" "))
        if name == key and sep:
            values.append(unquote_to_bytes(value.replace(b"+", b" ")))
    return values


def single(values: Iterable[bytes]) -> tuple[bytes | None, bool]:
    """Apply the duplicate rule: identical repeats count once, differing repeats are invalid.

    Returns:
        (the value or None when absent, whether the repeats disagree).
    """
    found: bytes | None = None
    for value in values:
        if found is None:
            found = value
        elif value != found:
            return None, True
    return found, False


def header_name(value: object, what: str) -> bytes:
    """Check a header name given to the middleware and return it lowered, as bytes."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    if not value or not set(value) <= _TCHAR:
        raise ValueError(f"{what} must be a non-empty HTTP header name (token characters)")
    return value.lower().encode("ascii")


class Warner:
    """Logs a constant warning about invalid ids, at most once a minute (then with a count).

    Nothing the client sent is ever part of the message.
    """

    __slots__ = ("_interval", "_last", "_logger", "_message", "_skipped")

    def __init__(self, logger: logging.Logger, message: str, interval: float = 60.0) -> None:
        self._logger = logger
        self._message = message
        self._interval = interval
        self._last: float | None = None
        self._skipped = 0

    def __call__(self) -> None:
        """Log the warning unless it was logged less than `interval` seconds ago."""
        now = time.monotonic()
        if self._last is not None and now - self._last < self._interval:
            self._skipped += 1
            return
        self._last = now
        skipped, self._skipped = self._skipped, 0
        if skipped:
            self._logger.warning("%s (%d more not logged)", self._message, skipped)
        else:
            self._logger.warning("%s", self._message)


def from_query(scope: Scope, key: bytes) -> bytes | None:
    """The id from the query parameter (duplicates that differ: invalid)."""
    raw, differ = single(find_query_values(scope.get("query_string") or b"", key))
    return CONFLICT if differ else raw


def add_header(message: Message, name: bytes, value: bytes) -> None:
    """Append `name: value` to the message's headers unless it has that header already."""
    headers: Iterable[tuple[bytes, bytes]] = message.get("headers") or ()
    if type(headers) is not list and type(headers) is not tuple:
        headers = list(headers)  # any iterable: read it once only
    size = len(name)
    for key, _ in headers:
        if len(key) == size and (key == name or key.lower() == name):  # lenient about case
            return
    message["headers"] = [*headers, (name, value)]


def route_template(scope: Scope, root_path: str) -> str | None:
    """The matched route's template, read after the app ran (None when unknown).

    Starlette and FastAPI leave the route in `scope["route"]` (its template relative to the
    mounts it sits in, whose paths `scope["root_path"]` gained since `root_path`); Litestar
    leaves `scope["path_template"]`.
    """
    route = scope.get("route")
    if route is not None:
        template = getattr(route, "path_format", None) or getattr(route, "path", None)
        if isinstance(template, str) and template:
            mounted = scope.get("root_path", "")
            if mounted != root_path and isinstance(mounted, str) and not hasattr(route, "routes"):
                template = mounted[len(root_path) :] + template  # a route inside Mount(s)
            return template
    template = scope.get("path_template")
    return template if isinstance(template, str) and template else None


async def refuse(scope: Scope, receive: Receive, send: Send, *, body: bytes) -> None:
    """Answer 400 with a JSON `body` (websocket: a denial response, else close with 1008)."""
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    await receive()  # websocket.connect
    if "websocket.http.response" in (scope.get("extensions") or {}):
        await send({"type": "websocket.http.response.start", "status": 400, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": "invalid id"})
