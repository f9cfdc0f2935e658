"""ConversationMiddleware reads the conversation and the calling run from W3C baggage."""

from __future__ import annotations

import logging

import pytest
from asgi_support import drive, http_scope, plain_app
from convtrack_asgi import ConversationMiddleware

import convtrack
from convtrack.testing import CapturedRuns

BAGGAGE = b"baggage"
HEADER = b"x-conversation-id"
PARENT = "01900000-0000-7000-8000-00000000000a"
ROOT = "01900000-0000-7000-8000-000000000001"
LINK = f"convtrack.parent_run_id={PARENT},convtrack.root_run_id={ROOT}".encode()


async def test_conversation_from_baggage_when_the_header_is_absent() -> None:
    """With no x-conversation-id, the baggage's convtrack.conversation_id is used and echoed."""
    exchange = await drive([(BAGGAGE, b"tenant=acme, convtrack.conversation_id=chat-1;p=1")])
    assert exchange.conversation_id == "chat-1"
    assert exchange.header_values(HEADER) == [b"chat-1"]


async def test_the_header_wins_over_the_baggage() -> None:
    """x-conversation-id, when sent, wins over the baggage member."""
    exchange = await drive([(BAGGAGE, b"convtrack.conversation_id=other"), (HEADER, b"chat-2")])
    assert exchange.conversation_id == "chat-2"


async def test_percent_encoded_ids_are_decoded() -> None:
    """A percent-encoded member is decoded before the id rule checks it."""
    exchange = await drive([(BAGGAGE, b"convtrack.conversation_id=user%3A42%2Fthread%2B7")])
    assert exchange.conversation_id == "user:42/thread+7"


async def test_the_custom_validator_applies_to_baggage() -> None:
    """The middleware's validator decides on baggage ids as on header ids."""
    exchange = await drive(
        [(BAGGAGE, b"convtrack.conversation_id=not-a-ticket")],
        validator=lambda value: value.startswith("ticket-"),
    )
    assert exchange.conversation_id != "not-a-ticket"


async def test_baggage_names_the_parent_run(captured: CapturedRuns) -> None:
    """The http run nests under the calling run the baggage names (parent and root)."""
    await drive([(HEADER, b"chat-3"), (BAGGAGE, LINK)])
    convtrack.flush()
    (run,) = captured.runs
    assert (run.parent_run_id, run.root_run_id) == (PARENT, ROOT)
    assert run.conversation_id == "chat-3"


async def test_without_baggage_the_http_run_is_a_root(captured: CapturedRuns) -> None:
    """No baggage: the request's run is a root, as before."""
    await drive([(HEADER, b"chat-4")])
    convtrack.flush()
    (run,) = captured.runs
    assert run.parent_run_id is None
    assert run.root_run_id == run.run_id


HOSTILE_BAGGAGE = {
    "100 entries": b",".join(b"k%d=v" % i for i in range(99)) + b",convtrack.conversation_id=c",
    "8 KB": b"convtrack.conversation_id=c,big=" + b"x" * 8200,
    "bad percent-encoding": b"convtrack.conversation_id=abc%zz",
    "truncated escape": b"convtrack.conversation_id=abc%4",
    "CRLF in the id": b"convtrack.conversation_id=conv-1%0D%0Aset-cookie: x=1",
    "CRLF in the parent": b"convtrack.conversation_id=c,convtrack.parent_run_id=a%0D%0Ab,"
    b"convtrack.root_run_id=r",
    "parent without root": b"convtrack.conversation_id=c,convtrack.parent_run_id=p",
    "given twice": b"convtrack.conversation_id=c1,convtrack.conversation_id=c2",
    "no value": b"convtrack.conversation_id",
    "space in the id": b"convtrack.conversation_id=a%20b",
}


@pytest.mark.parametrize("hostile", HOSTILE_BAGGAGE.values(), ids=HOSTILE_BAGGAGE.keys())
async def test_hostile_baggage_is_ignored_with_one_warning(
    hostile: bytes, caplog: pytest.LogCaptureFixture, captured: CapturedRuns
) -> None:
    """Hostile baggage is ignored (a new id, no parent), the request served, one warning."""
    caplog.set_level(logging.DEBUG)
    exchange = await drive([(BAGGAGE, hostile)], on_invalid="reject")
    assert exchange.called
    assert exchange.status == 200
    assert exchange.conversation_id not in (None, "c", "c1", "c2")
    warnings = [r.getMessage() for r in caplog.records if r.name == "convtrack.asgi"]
    assert warnings == ["convtrack-asgi: ignored an invalid baggage header"]
    for _, value in exchange.headers:
        assert b"\r" not in value
        assert b"\n" not in value
    convtrack.flush()
    (run,) = captured.runs
    assert run.parent_run_id is None


async def test_baggage_warnings_are_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    """A flood of hostile baggage logs one warning per middleware per minute."""
    caplog.set_level(logging.DEBUG)
    middleware = ConversationMiddleware(plain_app)
    sent: list[object] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: object) -> None:
        sent.append(message)

    for _ in range(20):
        scope = http_scope([(BAGGAGE, b"convtrack.conversation_id=a%zz")])
        await middleware(scope, receive, send)  # type: ignore[arg-type]
    warnings = [r for r in caplog.records if r.name == "convtrack.asgi"]
    assert len(warnings) == 1
    assert len(sent) == 40  # every request answered


async def test_baggage_of_others_is_no_trouble() -> None:
    """Baggage without convtrack members changes nothing and warns nothing."""
    exchange = await drive([(BAGGAGE, b"tenant=acme,userId=alice;x")], generate=False)
    assert exchange.conversation_id is None
