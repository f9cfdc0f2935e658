"""convtrack-http: httpx and requests carry the conversation to the services they call."""

from __future__ import annotations

import logging
from urllib.parse import quote

import convtrack_http
import httpx
import pytest
import requests
from http_support import EchoServer, baggage_members

import convtrack
from convtrack.testing import CapturedRuns, capture_runs


def get(url: str, **kwargs: object) -> dict[str, str]:
    """The headers the echo server saw, through a plain httpx client."""
    with httpx.Client() as client:
        answer: dict[str, str] = client.get(url, **kwargs).json()  # type: ignore[arg-type]
        return answer


def test_httpx_request_inside_a_conversation_carries_it(server: EchoServer) -> None:
    """Inside a conversation an httpx request carries x-conversation-id and baggage; no user."""
    convtrack_http.instrument()
    with convtrack.conversation("chat-1", user_id="alice"):
        seen = get(server.url())
    assert seen["x-conversation-id"] == "chat-1"
    assert "x-user-id" not in seen
    members = baggage_members(seen.get("baggage"))
    assert members == {"convtrack.conversation_id": "chat-1"}


def test_outside_a_conversation_nothing_is_added(server: EchoServer) -> None:
    """A request made outside any conversation carries no convtrack header."""
    convtrack_http.instrument()
    seen = get(server.url())
    assert "x-conversation-id" not in seen
    assert "baggage" not in seen


def test_the_current_run_travels_as_the_parent(server: EchoServer) -> None:
    """A request made inside a run carries that run's id and its root's in the baggage."""
    convtrack_http.instrument()

    with capture_runs(grouping=False) as runs:

        @convtrack.trace()
        def call_agent() -> dict[str, str]:
            return get(server.url())

        with convtrack.conversation("chat-2"):
            seen = call_agent()
        convtrack.flush()
    (run,) = runs.runs
    members = baggage_members(seen["baggage"])
    assert members["convtrack.parent_run_id"] == run.run_id
    assert members["convtrack.root_run_id"] == run.root_run_id


def test_user_id_only_when_opted_in(server: EchoServer) -> None:
    """send_user_id=True adds x-user-id and a baggage member with the user."""
    convtrack_http.instrument(send_user_id=True)
    with convtrack.conversation("chat-3", user_id="alice@example.com"):
        seen = get(server.url())
    assert seen["x-user-id"] == "alice@example.com"
    assert baggage_members(seen["baggage"])["convtrack.user_id"] == "alice@example.com"


def test_headers_the_caller_set_are_kept(server: EchoServer) -> None:
    """The caller's x-conversation-id wins; its baggage is kept, ours appended after it."""
    convtrack_http.instrument()
    with convtrack.conversation("chat-4"):
        seen = get(
            server.url(),
            headers={"X-Conversation-Id": "theirs", "baggage": "tenant=acme,k2=v2;prop"},
        )
    assert seen["x-conversation-id"] == "theirs"
    assert seen["baggage"] == "tenant=acme,k2=v2;prop,convtrack.conversation_id=chat-4"


def test_caller_baggage_member_of_ours_is_not_replaced(server: EchoServer) -> None:
    """A convtrack member the caller put in the baggage is left as it is."""
    convtrack_http.instrument()
    with convtrack.conversation("chat-5"):
        seen = get(server.url(), headers={"baggage": "convtrack.conversation_id=other"})
    assert seen["baggage"] == "convtrack.conversation_id=other"


def test_full_baggage_gets_nothing_more(server: EchoServer) -> None:
    """Baggage at the W3C limit of 64 members is left alone (ours would be dropped anyway)."""
    convtrack_http.instrument()
    full = ",".join(f"k{i}=v" for i in range(64))
    with convtrack.conversation("chat-6"):
        seen = get(server.url(), headers={"baggage": full})
    assert seen["baggage"] == full
    assert seen["x-conversation-id"] == "chat-6"


@pytest.mark.parametrize("bad", ["line\r\nInjected: 1", "has space", "é-accent", "x" * 129])
def test_ids_that_cannot_go_in_a_header_are_not_sent(server: EchoServer, bad: str) -> None:
    """A conversation id outside the header alphabet is never sent; the request goes through."""
    convtrack_http.instrument()
    with convtrack.conversation(bad):
        seen = get(server.url())
    assert "x-conversation-id" not in seen
    assert "injected" not in seen
    assert "baggage" not in seen


def test_allow_list_of_hosts(server: EchoServer) -> None:
    """With hosts=, only those hosts (exactly, or under a .suffix) get the conversation."""
    convtrack_http.instrument(hosts=["localhost"])
    with convtrack.conversation("chat-7"):
        to_localhost = get(server.url(host="localhost"))
        to_ip = get(server.url(host="127.0.0.1"))
    assert to_localhost["x-conversation-id"] == "chat-7"
    assert "x-conversation-id" not in to_ip
    suffix = convtrack_http.Propagator(hosts=[".svc.local"])
    assert suffix.allows("agent.svc.local")
    assert not suffix.allows("svc.local.evil.com")


def test_redirect_to_a_host_not_allowed_drops_the_headers(server: EchoServer) -> None:
    """A redirect from an allowed host to another one does not carry the conversation on."""
    convtrack_http.instrument(hosts=["127.0.0.1"])
    target = server.url(host="localhost")
    with convtrack.conversation("chat-8"), httpx.Client(follow_redirects=True) as client:
        client.get(server.url("/redirect?to=" + quote(target, safe="")), headers={"a": "1"})
    first, second = server.seen
    assert first["x-conversation-id"] == "chat-8"
    assert "x-conversation-id" not in second
    assert "baggage" not in second
    assert second["a"] == "1"


def test_requests_redirect_to_a_host_not_allowed_drops_the_headers(server: EchoServer) -> None:
    """requests: the same, each hop checked; the caller's own baggage comes back."""
    convtrack_http.instrument(hosts=["127.0.0.1"])
    target = server.url(host="localhost")
    with convtrack.conversation("chat-9"):
        requests.get(
            server.url("/redirect?to=" + quote(target, safe="")),
            headers={"baggage": "mine=1"},
            timeout=10,
        )
    first, second = server.seen
    assert first["x-conversation-id"] == "chat-9"
    assert first["baggage"] == "mine=1,convtrack.conversation_id=chat-9"
    assert "x-conversation-id" not in second
    assert second["baggage"] == "mine=1"


def test_requests_carries_the_conversation(server: EchoServer) -> None:
    """requests (Session.send) carries the conversation like httpx."""
    convtrack_http.instrument()
    with convtrack.conversation("chat-10"):
        seen = requests.get(server.url(), timeout=10).json()
    assert seen["x-conversation-id"] == "chat-10"
    assert baggage_members(seen["baggage"]) == {"convtrack.conversation_id": "chat-10"}


async def test_async_httpx_carries_the_conversation(server: EchoServer) -> None:
    """httpx.AsyncClient carries the conversation of the task that sends."""
    convtrack_http.instrument()
    async with httpx.AsyncClient() as client:
        with convtrack.conversation("chat-11"):
            seen = (await client.get(server.url())).json()
        outside = (await client.get(server.url())).json()
    assert seen["x-conversation-id"] == "chat-11"
    assert "x-conversation-id" not in outside


def test_uninstrument_stops_it(server: EchoServer) -> None:
    """uninstrument() (safe twice) restores plain requests; is_instrumented() follows."""
    convtrack_http.instrument()
    assert convtrack_http.is_instrumented()
    convtrack_http.uninstrument()
    convtrack_http.uninstrument()
    assert not convtrack_http.is_instrumented()
    with convtrack.conversation("chat-12"):
        assert "x-conversation-id" not in get(server.url())
        assert "x-conversation-id" not in requests.get(server.url(), timeout=10).json()


def test_explicit_event_hooks_without_global_patching(server: EchoServer) -> None:
    """A Propagator's httpx hook tags one client's requests only, nothing patched."""
    propagator = convtrack_http.Propagator()
    hooked = httpx.Client(event_hooks={"request": [propagator.httpx_hook]})
    with convtrack.conversation("chat-13"), hooked:
        seen = hooked.get(server.url()).json()
        plain = get(server.url())
    assert seen["x-conversation-id"] == "chat-13"
    assert "x-conversation-id" not in plain
    assert not convtrack_http.is_instrumented()


async def test_explicit_async_event_hook(server: EchoServer) -> None:
    """The async hook tags an httpx.AsyncClient's requests."""
    propagator = convtrack_http.Propagator(send_user_id=True)
    hooks = {"request": [propagator.httpx_async_hook]}
    async with httpx.AsyncClient(event_hooks=hooks) as client:
        with convtrack.conversation("chat-14", user_id="u1"):
            seen = (await client.get(server.url())).json()
    assert (seen["x-conversation-id"], seen["x-user-id"]) == ("chat-14", "u1")


def test_instrument_again_replaces_the_options(server: EchoServer) -> None:
    """A second instrument() call takes the new options."""
    convtrack_http.instrument(hosts=["example.org"])
    convtrack_http.instrument(header_name="x-thread-id")
    with convtrack.conversation("chat-15"):
        seen = get(server.url())
    assert seen["x-thread-id"] == "chat-15"
    assert "x-conversation-id" not in seen


def test_bad_options_are_refused() -> None:
    """A header name that is no HTTP token, or one host given as a str, is refused."""
    with pytest.raises(ValueError, match="header_name"):
        convtrack_http.Propagator(header_name="x-bad\r\nname")
    with pytest.raises(TypeError, match="hosts"):
        convtrack_http.Propagator(hosts="localhost")


def test_a_failing_propagation_never_breaks_the_request(
    server: EchoServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Headers that refuse changes: convtrack reports it, the user's request still succeeds."""
    convtrack_http.instrument()

    class Frozen(httpx.Headers):
        def __setitem__(self, key: str, value: str) -> None:
            raise RuntimeError("frozen headers")

    with convtrack.conversation("chat-16"), httpx.Client() as client:
        request = client.build_request("GET", server.url())
        request.headers = Frozen(request.headers)
        with caplog.at_level(logging.WARNING, logger="convtrack"):
            response = client.send(request)
    assert response.status_code == 200
    assert "x-conversation-id" not in response.json()
    assert "adding the conversation headers" in caplog.text


def test_capture_runs_is_unaffected(server: EchoServer, captured: CapturedRuns) -> None:
    """Tagging records no run of its own: the http client call adds nothing to the store."""
    convtrack_http.instrument()
    with convtrack.conversation("chat-17"):
        get(server.url())
    convtrack.flush()
    assert list(captured.runs) == []


@pytest.mark.parametrize("tag_llm_clients", [False, True])
def test_llm_clients_own_calls_are_tagged_only_when_asked(tag_llm_clients: bool) -> None:
    """The OpenAI and Anthropic SDKs' requests (any base URL) carry nothing unless asked."""
    import anthropic
    import openai

    from convtrack.fake_llm import FakeLLMServer

    convtrack_http.instrument(tag_llm_clients=tag_llm_clients)
    with FakeLLMServer() as llm, convtrack.conversation("chat-18"):
        gpt = openai.OpenAI(base_url=llm.openai_base_url, api_key="fake")
        gpt.chat.completions.create(model="gpt-fake", messages=[{"role": "user", "content": "hi"}])
        claude = anthropic.Anthropic(base_url=llm.anthropic_base_url, api_key="fake")
        claude.messages.create(
            model="claude-fake", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
        tagged = [r.headers.get("x-conversation-id") for r in llm.requests]
    assert tagged == (["chat-18", "chat-18"] if tag_llm_clients else [None, None])
    assert not convtrack_http.Propagator().allows("api.openai.com")


def test_plus_is_escaped_in_baggage(server: EchoServer) -> None:
    """A `+` in an id is sent as %2B in the baggage (form decoders would make it a space)."""
    convtrack_http.instrument()
    with convtrack.conversation("user+42/thread=7"):
        seen = get(server.url())
    assert seen["x-conversation-id"] == "user+42/thread=7"
    assert seen["baggage"] == "convtrack.conversation_id=user%2B42/thread=7"


def test_requests_in_one_run_see_a_new_run_and_conversation(server: EchoServer) -> None:
    """The memo of what to send follows the context: a new conversation or run is seen."""
    convtrack_http.instrument()
    with convtrack.conversation("chat-19"):
        first = get(server.url())
    with convtrack.conversation("chat-20"):
        second = get(server.url())
    assert (first["x-conversation-id"], second["x-conversation-id"]) == ("chat-19", "chat-20")


def test_outgoing_headers_for_other_clients() -> None:
    """outgoing_headers() lists what a request would carry now; nothing outside a conversation."""
    propagator = convtrack_http.Propagator(send_user_id=True)
    assert propagator.outgoing_headers() == {}
    with convtrack.conversation("chat-21", user_id="u7"):
        assert propagator.outgoing_headers() == {
            "x-conversation-id": "chat-21",
            "x-user-id": "u7",
            "baggage": "convtrack.conversation_id=chat-21,convtrack.user_id=u7",
        }
