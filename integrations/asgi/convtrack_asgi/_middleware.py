"""ConversationMiddleware: every ASGI request and websocket runs inside its conversation."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable

from convtrack import new_conversation_id
from convtrack.instrumentation import (
    Conversation,
    attach,
    conversation_of,
    current_conversation,
    detach,
    inherit,
    is_recording,
    report,
)

from ._baggage import BAGGAGE, Caller, read_baggage
from ._http import (
    ALLOWED,
    CONFLICT,
    MAX_LENGTH,
    START_MESSAGES,
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    Validator,
    Warner,
    accept,
    add_header,
    from_query,
    refuse,
    single,
)
from ._http import header_name as _name
from ._lifespan import flushing_at_shutdown
from ._recording import call_recorded

logger = logging.getLogger("convtrack.asgi")

_CONNECTIONS = frozenset({"http", "websocket"})
# Ids clients sent that passed the default rule, with their root Conversation: a chat's
# requests repeat its id, and a lookup is cheaper than checking and decoding it again.
_KNOWN: dict[bytes, Conversation] = {}
_KNOWN_MAX = 4096


def _remember(raw: bytes, cid: str) -> Conversation:
    """Memoise a valid id's root Conversation (the memo starts over when full)."""
    if len(_KNOWN) >= _KNOWN_MAX:
        _KNOWN.clear()
    conv = _KNOWN[raw] = conversation_of(cid)
    return conv


# What `_id_of` finds: (id, memoised Conversation, bytes to echo, rejected, calling run).
_Id = tuple[str | None, Conversation | None, bytes | None, bool, Caller | None]


class ConversationMiddleware:
    """Run each HTTP request and websocket connection inside its conversation.

    Args:
        app: the ASGI application to wrap.
        header_name: the request header carrying the conversation id (echoed on the response).
        user_header_name: a request header carrying the user id, if any.
        query_param: a query parameter carrying the id when the header is absent (websockets).
        generate: make a new uuid7 id when the request carries none.
        echo: send the id back in `header_name` (unless the app set that header itself).
        validator: `validator(id) -> bool` replacing the default rule (1-128 characters of
            ``[A-Za-z0-9._:@/+=-]``); ids with control or format characters are always refused.
        on_invalid: `"replace"` (ignore the id, log a warning, go on as if none was sent) or
            `"reject"` (answer 400 with a JSON error without calling the app).
        get_user_id: `get_user_id(scope) -> str | None`, e.g. from the app's authentication;
            takes precedence over `user_header_name`.

    Example:
        >>> app.add_middleware(ConversationMiddleware, user_header_name="x-user-id")
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        header_name: str = "x-conversation-id",
        user_header_name: str | None = None,
        query_param: str | None = None,
        generate: bool = True,
        echo: bool = True,
        validator: Validator | None = None,
        on_invalid: str = "replace",
        get_user_id: Callable[[Scope], str | None] | None = None,
    ) -> None:
        if not callable(app):
            raise TypeError(f"app must be an ASGI application, got {type(app).__name__}")
        self._header = _name(header_name, "header_name")
        self._user_header = (
            None if user_header_name is None else _name(user_header_name, "user_header_name")
        )
        if self._user_header == self._header:
            raise ValueError("user_header_name must differ from header_name")
        if query_param is not None and (not isinstance(query_param, str) or not query_param):
            raise TypeError(f"query_param must be a non-empty str or None, got {query_param!r}")
        for flag, what in ((generate, "generate"), (echo, "echo")):
            if not isinstance(flag, bool):
                raise TypeError(f"{what} must be a bool, got {type(flag).__name__}")
        for fn, what in ((validator, "validator"), (get_user_id, "get_user_id")):
            if fn is not None and not callable(fn):
                raise TypeError(f"{what} must be callable or None, got {type(fn).__name__}")
        if on_invalid not in ("replace", "reject"):
            raise ValueError(f'on_invalid must be "replace" or "reject", got {on_invalid!r}')
        self.app = app
        self._query = None if query_param is None else query_param.encode("utf-8")
        self._reject = on_invalid == "reject"
        self._get_user_id = get_user_id
        self._wants_user = get_user_id is not None or user_header_name is not None
        # What every request reads, in one attribute load.
        self._hot = (self._header, self._query, validator, generate, echo, self._wants_user)
        detail = (
            "the conversation id is not valid for this server"
            if validator
            else "the conversation id must be 1-128 characters of A-Za-z0-9._:@/+=-"
        )
        body = json.dumps({"error": "invalid_conversation_id", "detail": detail}).encode()
        self._refuse = functools.partial(refuse, body=body)
        verb = "rejected a request with" if self._reject else "ignored"
        self._warn_id = Warner(logger, f"convtrack-asgi: {verb} an invalid conversation id")
        self._warn_user = Warner(logger, "convtrack-asgi: ignored an invalid user id header")
        self._warn_baggage = Warner(logger, "convtrack-asgi: ignored an invalid baggage header")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection (http and websocket; anything else passes through)."""
        if scope["type"] not in _CONNECTIONS:
            lifespan = scope["type"] == "lifespan"
            await self.app(scope, receive, flushing_at_shutdown(send) if lifespan else send)
            return
        cid, known, echoed, rejected, caller = self._id_of(scope)
        app = self._refuse if rejected else self.app
        conv = self._conversation(scope, cid, known, rejected)
        if is_recording():
            await call_recorded(app, self._header, scope, receive, send, conv, echoed, caller)
        else:
            await self._plain(app, scope, receive, send, conv, echoed)

    def _id_of(self, scope: Scope) -> _Id:
        """The request's conversation id: (id, its memoised root Conversation if known, the
        bytes to echo, whether the request is rejected, the calling run from the baggage)."""
        hdr, query, validator, generate, echo, _ = self._hot
        raw: bytes | None = None
        bag: list[bytes] | None = None
        for name, value in scope["headers"]:
            if name == hdr:
                if raw is None:
                    raw = value
                elif value != raw:
                    raw = CONFLICT  # duplicates that differ: invalid whatever they say
            elif name == BAGGAGE:
                bag = [value] if bag is None else [*bag, value]
        caller: Caller | None = None
        from_baggage = False
        if bag is not None and (raw is None or is_recording()):
            caller = read_baggage(bag)
            if caller is None:
                self._warn_baggage()
            elif raw is None and caller.conversation is not None:
                raw, from_baggage = caller.conversation, True
        if raw is None and query is not None:
            raw = from_query(scope, query)
        cid: str | None = None
        known: Conversation | None = None
        echoed = raw
        if raw is not None:
            if validator is None and (known := _KNOWN.get(raw)) is not None:
                cid = known.conversation_id  # an id this process accepted before
            elif (
                validator is None
                and len(raw) <= MAX_LENGTH
                and raw
                and not raw.translate(None, ALLOWED)  # measured faster than a regex
            ):
                cid = raw.decode("ascii")
                known = _remember(raw, cid)
            else:
                cid = accept(raw, validator)
                if cid is None and from_baggage:
                    self._warn_baggage()  # never rejected: the baggage is ignored
                    caller = None
                elif cid is None:
                    self._warn_id()
                    if self._reject:
                        return None, None, None, True, None
        if cid is None and generate:
            cid = new_conversation_id()
            echoed = cid.encode("ascii")
        return cid, known, echoed if cid is not None and echo else None, False, caller

    def _conversation(
        self, scope: Scope, cid: str | None, known: Conversation | None, rejected: bool
    ) -> Conversation | None:
        """The conversation to run the request in: its id and user, inheriting the rest."""
        user = self._user(scope) if self._wants_user and not rejected else None
        outer = current_conversation()
        if cid is None and user is None:
            return outer
        if outer is None and known is not None and user is None:
            return known
        # a user header alone keeps the outer conversation's id
        return inherit(outer, cid or (outer.conversation_id if outer else ""), user)

    async def _plain(
        self,
        app: ASGIApp,
        scope: Scope,
        receive: Receive,
        send: Send,
        conv: Conversation | None,
        echoed: bytes | None,
    ) -> None:
        """Call `app` inside the conversation, echoing its id (convtrack not recording)."""
        if echoed is not None:
            hdr, downstream = self._header, send

            def send_echoing(message: Message) -> Awaitable[None]:
                # A plain function handing back the downstream awaitable: no extra coroutine.
                if message["type"] in START_MESSAGES:
                    add_header(message, hdr, echoed)
                return downstream(message)

            send = send_echoing
        if conv is current_conversation():
            await app(scope, receive, send)
            return
        token = attach(conv)
        try:
            await app(scope, receive, send)
        finally:
            detach(token)

    def _user(self, scope: Scope) -> str | None:
        """The user id: `get_user_id(scope)`, else the user header (default rule)."""
        if self._get_user_id is not None:
            try:
                value: object = self._get_user_id(scope)
            except Exception as exc:
                report(f"asgi get_user_id ({type(exc).__name__})")  # by type: it may quote input
                value = None
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if isinstance(value, str) and value:
                return value
            if value is not None and value != "":
                report("asgi get_user_id (returned neither str nor None)")
        uhdr = self._user_header
        if uhdr is None:
            return None
        raw, differ = single(value for name, value in scope["headers"] if name == uhdr)
        if raw is None and not differ:
            return None
        user = None if differ or raw is None else accept(raw, None)
        if user is None:
            self._warn_user()
        return user
