"""Propagator: which requests carry the conversation, and the headers added to them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from convtrack.instrumentation import report

from ._carried import Carried, carried, merged_baggage

# The LLM APIs convtrack's own integrations record: their calls are not tagged unless asked.
LLM_HOSTS = frozenset({"api.openai.com", "api.anthropic.com"})
# The user agents of the OpenAI and Anthropic SDKs, whatever base URL they are given.
_LLM_AGENTS = ("OpenAI/", "AsyncOpenAI/", "Anthropic/", "AsyncAnthropic/")

# In an httpx request's extensions: what we added (a redirect's request shares them).
_MARK = "convtrack_http.added"
Headers = MutableMapping[str, str]
# What a request got from us: (header name, the value it had before, None when absent).
Added = tuple[tuple[str, str | None], ...]


# RFC 9110 token characters: what a header name may be made of.
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _header(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or not set(value) <= _TCHAR:
        raise ValueError(f"{what} must be an HTTP header name, got {value!r}")
    return value.lower()


class Propagator:
    """Adds the current conversation to outgoing requests' headers.

    Args:
        hosts: the destination hosts that get the headers (`"api.internal"` exactly,
            `".svc.cluster.local"` for every host under it); None: every host.
        send_user_id: also send the user id (personal data: off by default).
        tag_llm_clients: also tag the OpenAI and Anthropic SDKs' own calls (off by default).
        baggage: also send a W3C `baggage` header (carries the parent run across processes).
        header_name: the header carrying the conversation id.
        user_header_name: the header carrying the user id (with `send_user_id`).
    """

    def __init__(
        self,
        *,
        hosts: Iterable[str] | None = None,
        send_user_id: bool = False,
        tag_llm_clients: bool = False,
        baggage: bool = True,
        header_name: str = "x-conversation-id",
        user_header_name: str = "x-user-id",
    ) -> None:
        if isinstance(hosts, str):
            raise TypeError("hosts must be a list of host names, not one str")
        names = None if hosts is None else [str(h).lower().rstrip(".") for h in hosts]
        self._exact = None if names is None else frozenset(n for n in names if n[:1] != ".")
        self._suffixes = () if names is None else tuple(n for n in names if n[:1] == ".")
        self._send_user = bool(send_user_id)
        self._tag_llm = bool(tag_llm_clients)
        self._baggage = bool(baggage)
        self._header = _header(header_name, "header_name")
        self._user_header = _header(user_header_name, "user_header_name")
        # the request headers `tag()` reads
        self._watched = ("user-agent", "baggage", self._header, self._user_header)
        self._watched_raw = {name.encode("ascii"): name for name in self._watched}

    def allows(self, host: str, user_agent: str | None = None) -> bool:
        """Whether a request to `host` (sent with `user_agent`) gets the conversation."""
        host = host.lower()
        if self._exact is not None and not (
            host in self._exact or (self._suffixes and host.endswith(self._suffixes))
        ):
            return False
        return self._tag_llm or not (
            host in LLM_HOSTS or (user_agent is not None and user_agent.startswith(_LLM_AGENTS))
        )

    def outgoing_headers(self) -> dict[str, str]:
        """The headers a request made now would get (hosts aside); {} outside a conversation.

        For clients convtrack-http does not know: check the host with `allows()` first, and
        do not overwrite the headers the request has already.
        """
        ids = carried(self._send_user)
        if ids is None:
            return {}
        found = {self._header: ids.conversation_id}
        if ids.user_id is not None:
            found[self._user_header] = ids.user_id
        if self._baggage:
            found["baggage"] = ids.baggage
        return found

    def tag(self, headers: Headers, host: str, present: Mapping[str, str] | None = None) -> Added:
        """Add the conversation to `headers` for a request to `host`; what was added.

        A header the caller set is never overwritten; baggage members are appended to the
        caller's baggage. Outside a conversation, or to a host not allowed, nothing is added.
        `present`: the values `headers` has of the headers read here, when known already.
        """
        try:
            ids = carried(self._send_user)
            if ids is None:
                return ()
            if present is None:
                present = {n: v for n in self._watched if (v := headers.get(n)) is not None}
            return self._add(headers, host, present, ids)
        except Exception as exc:
            report("http (adding the conversation headers)", exc)
            return ()

    def _add(self, headers: Headers, host: str, present: Mapping[str, str], ids: Carried) -> Added:
        """`tag()` once the ids to send and the headers present are known."""
        if not self.allows(host, present.get("user-agent")):
            return ()
        added: list[tuple[str, str | None]] = []
        if self._header not in present:
            headers[self._header] = ids.conversation_id
            added.append((self._header, None))
        if ids.user_id is not None and self._user_header not in present:
            headers[self._user_header] = ids.user_id
            added.append((self._user_header, None))
        if self._baggage:
            existing = present.get("baggage")
            merged = merged_baggage(existing, ids)
            if merged is not None:
                headers["baggage"] = merged
                added.append(("baggage", existing))
        return tuple(added)

    def _present_in_httpx(self, headers: Any) -> dict[str, str]:
        """The values of the headers `tag()` reads, in one pass over httpx's raw headers
        (repeated ones joined with a comma, as httpx does)."""
        wanted = self._watched_raw
        found: dict[str, str] = {}
        for key, value in headers.raw:
            name = wanted.get(key.lower())
            if name is not None:
                text, before = value.decode("latin-1"), found.get(name)
                found[name] = text if before is None else f"{before}, {text}"
        return found

    def retag(self, headers: Headers, host: str, added: Added) -> Added:
        """A redirect hop to `host`, its headers copied from a hop we tagged: undo the tags
        when `host` is not allowed (the caller's own values come back)."""
        try:
            if self.allows(host, headers.get("user-agent")):
                return added
            for name, before in added:
                if before is None:
                    headers.pop(name, None)
                else:
                    headers[name] = before
        except Exception as exc:
            report("http (a redirect to another host)", exc)
        return ()

    # httpx event hooks: `httpx.Client(event_hooks={"request": [propagator.httpx_hook]})`

    def httpx_hook(self, request: Any) -> None:
        """An httpx request event hook (sync `httpx.Client`); runs on every redirect hop."""
        try:
            extensions = request.extensions
            added = extensions.get(_MARK)
            if added is None:
                extensions[_MARK] = self._tag_httpx(request)
            else:
                extensions[_MARK] = self.retag(request.headers, request.url.host, added)
        except Exception as exc:
            report("http (adding the conversation headers)", exc)

    def _tag_httpx(self, request: Any) -> Added:
        ids = carried(self._send_user)
        if ids is None:
            return ()
        headers = request.headers
        return self._add(headers, request.url.host, self._present_in_httpx(headers), ids)

    async def httpx_async_hook(self, request: Any) -> None:
        """The same for `httpx.AsyncClient` (whose hooks are awaited)."""
        self.httpx_hook(request)
