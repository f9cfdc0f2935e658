"""convtrack-http: outgoing HTTP requests carry the conversation to the services they call.

Inside a conversation, httpx (sync and async) and requests add `x-conversation-id` and W3C
`baggage` members (`convtrack.conversation_id`, the calling run's `convtrack.parent_run_id`
and `convtrack.root_run_id`) to each request, so that a service behind `convtrack-asgi`
serves it in the same conversation, its runs nested under the call that caused them.

Example:
    >>> import convtrack_http
    >>> convtrack_http.instrument(hosts=["agent.internal"])   # every httpx/requests request
    >>> hook = convtrack_http.Propagator(hosts=["agent.internal"]).httpx_hook
    >>> client = httpx.Client(event_hooks={"request": [hook]})  # one client only
"""

from __future__ import annotations

from collections.abc import Iterable

from convtrack.instrumentation import missing_dependency

from ._carried import CONVERSATION_KEY, PARENT_KEY, ROOT_KEY, USER_KEY, sendable
from ._patches import HttpInstrumentor, _importable
from ._propagator import LLM_HOSTS, Propagator

__version__ = "0.1.0"

__all__ = [
    "CONVERSATION_KEY",
    "LLM_HOSTS",
    "PARENT_KEY",
    "ROOT_KEY",
    "USER_KEY",
    "Propagator",
    "instrument",
    "is_instrumented",
    "sendable",
    "uninstrument",
]

_instrumentor = HttpInstrumentor()


def instrument(
    *,
    hosts: Iterable[str] | None = None,
    send_user_id: bool = False,
    tag_llm_clients: bool = False,
    baggage: bool = True,
    header_name: str = "x-conversation-id",
    user_header_name: str = "x-user-id",
) -> None:
    """Tag every httpx and requests request made inside a conversation.

    Calling it again replaces the options. See `Propagator` for what each one means.

    Raises:
        ImportError: neither httpx nor requests is installed.
    """
    if not (_importable("httpx") or _importable("requests")):
        raise missing_dependency("convtrack_http", "httpx", "convtrack-http[httpx]")
    _instrumentor.configure(
        Propagator(
            hosts=hosts,
            send_user_id=send_user_id,
            tag_llm_clients=tag_llm_clients,
            baggage=baggage,
            header_name=header_name,
            user_header_name=user_header_name,
        )
    )


uninstrument = _instrumentor.uninstrument
is_instrumented = _instrumentor.is_instrumented
