"""Propagator: which requests carry the conversation, and the headers added to them."""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

from convtrack.instrumentation import report

from ._carried import carried, merged_baggage

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

    def tag(self, headers: Headers, host: str) -> Added:
        """Add the conversation to `headers` for a request to `host`; what was added.

        A header the caller set is never overwritten; baggage members are appended to the
        caller's baggage. Outside a conversation, or to a host not allowed, nothing is added.
        """
        try:
            ids = carried(self._send_user)
            if ids is None or not self.allows(host, headers.get("user-agent")):
                return ()
            added: list[tuple[str, str | None]] = []
            if self._header not in headers:
                headers[self._header] = ids.conversation_id
                added.append((self._header, None))
            if ids.user_id is not None and self._user_header not in headers:
                headers[self._user_header] = ids.user_id
                added.append((self._user_header, None))
            if self._baggage:
                existing = headers.get("baggage")
                merged = merged_baggage(existing, ids)
                if merged is not None:
                    headers["baggage"] = merged
                    added.append(("baggage", existing))
            return tuple(added)
        except Exception as exc:
            report("http (adding the conversation headers)", exc)
            return ()

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
        extensions = request.extensions
        host = request.url.host
        added = extensions.get(_MARK)
        if added is None:
            extensions[_MARK] = self.tag(request.headers, host)
        else:
            extensions[_MARK] = self.retag(request.headers, host, added)

    async def httpx_async_hook(self, request: Any) -> None:
        """The same for `httpx.AsyncClient` (whose hooks are awaited)."""
        self.httpx_hook(request)
