"""Hostile ids never reach the context, the logs or the response; property tests of the parsing."""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
import uuid
from urllib.parse import urlencode

import pytest
from asgi_support import Exchange, drive, http_scope, plain_app
from convtrack_asgi import ConversationMiddleware
from convtrack_asgi._http import (
    ALLOWED,
    MAX_LENGTH,
    accept,
    find_query_values,
    single,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.types import Message

from convtrack.instrumentation import printable

DEFAULT_RULE = re.compile(rb"[A-Za-z0-9._:@/+=\-]{1,128}")
HEADER = b"x-conversation-id"

HOSTILE = {
    "5 KB": b"a" * 5 * 1024,
    "129 chars": b"b" * 129,
    "CRLF injection": b"conv-1\r\nset-cookie: session=stolen",
    "bare LF": b"conv-1\nx-injected: 1",
    "NUL": b"conv-1\x00tail",
    "tab": b"conv\t1",
    "DEL": b"conv-1\x7f",
    "latin-1": b"caf\xe9-\xff",
    "utf-8": "会話-ü".encode(),
    "space": b"conv 1",
    "empty": b"",
    "comma list": b"conv-1, conv-2",
    "html": b"<script>alert(1)</script>",
}


def is_uuid7(value: str | None) -> bool:
    """Whether `value` is a canonical uuid7 string."""
    return value is not None and str(uuid.UUID(value)) == value and uuid.UUID(value).version == 7


def assert_nothing_leaked(exchange: Exchange, hostile: bytes, caplog_text: str) -> None:
    """The hostile bytes are absent from the context, the response and the logs."""
    texts = {hostile.decode("latin-1"), repr(hostile), repr(hostile.decode("latin-1"))}
    if len(hostile) > 3:
        assert exchange.conversation_id is None or hostile.decode("latin-1") not in (
            exchange.conversation_id
        )
        assert not any(text in caplog_text for text in texts)
        assert all(hostile not in value for _, value in exchange.headers)
        assert hostile not in exchange.body
    for _, value in exchange.headers:
        assert b"\r" not in value
        assert b"\n" not in value
        assert b"\x00" not in value


@pytest.mark.parametrize("hostile", HOSTILE.values(), ids=HOSTILE.keys())
async def test_hostile_header_is_replaced(hostile: bytes, caplog: pytest.LogCaptureFixture) -> None:
    """A hostile id is replaced by a uuid7; only the constant warning is logged."""
    caplog.set_level(logging.DEBUG)
    exchange = await drive([(HEADER, hostile)])
    assert exchange.called
    assert is_uuid7(exchange.conversation_id)
    assert exchange.header_values(HEADER) == [str(exchange.conversation_id).encode()]
    assert [r.getMessage() for r in caplog.records] == [
        "convtrack-asgi: ignored an invalid conversation id"
    ]
    assert_nothing_leaked(exchange, hostile, caplog.text)


@pytest.mark.parametrize("hostile", HOSTILE.values(), ids=HOSTILE.keys())
async def test_hostile_header_is_rejected(hostile: bytes, caplog: pytest.LogCaptureFixture) -> None:
    """In reject mode a hostile id gets a 400 whose body and headers do not repeat it."""
    caplog.set_level(logging.DEBUG)
    exchange = await drive([(HEADER, hostile)], on_invalid="reject")
    assert not exchange.called
    assert exchange.status == 400
    assert exchange.header_values(HEADER) == []
    assert [r.getMessage() for r in caplog.records] == [
        "convtrack-asgi: rejected a request with an invalid conversation id"
    ]
    assert_nothing_leaked(exchange, hostile, caplog.text)


@pytest.mark.parametrize(
    "hostile",
    [HOSTILE["CRLF injection"], HOSTILE["bare LF"], HOSTILE["NUL"], HOSTILE["tab"], HOSTILE["DEL"]],
)
async def test_control_characters_are_refused_even_by_a_permissive_validator(
    hostile: bytes,
) -> None:
    """A validator accepting everything still never sees ids with control characters."""
    calls: list[str] = []

    def permissive(value: str) -> bool:
        calls.append(value)
        return True

    exchange = await drive([(HEADER, hostile)], validator=permissive)
    assert calls == []
    assert is_uuid7(exchange.conversation_id)


async def test_a_permissive_validator_may_accept_long_and_non_ascii_ids() -> None:
    """A custom validator decides about length and alphabet; the id round-trips as UTF-8."""
    raw = "café ".encode() * 1000
    exchange = await drive([(HEADER, raw)], validator=lambda value: True)
    assert exchange.conversation_id == "café " * 1000
    assert exchange.header_values(HEADER) == [raw]


@pytest.mark.parametrize(
    "raw",
    [
        b"caf\xe9",  # latin-1, not UTF-8
        "conv\u202egnp.exe".encode(),  # a bidi override
        "conv\u200b".encode(),  # zero-width space
        "conv\x85".encode(),  # C1 (NEL), as UTF-8
        "conv\x9b31m".encode(),  # C1 (CSI), as UTF-8
        "a\u2028b".encode(),  # line separator
    ],
)
async def test_a_permissive_validator_never_widens_the_rule(raw: bytes) -> None:
    """Non-UTF-8 bytes, C1 controls and format or bidi characters are refused all the same."""
    calls: list[str] = []
    exchange = await drive([(HEADER, raw)], validator=lambda value: calls.append(value) or True)
    assert calls == []
    assert is_uuid7(exchange.conversation_id)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([b"conv-1", b"conv-1"], "conv-1"),
        ([b"conv-1", b"conv-1", b"conv-1"], "conv-1"),
        ([b"conv-1", b"conv-2"], None),
        ([b"conv-1", b"conv-1", b"conv-2"], None),
        ([b"conv-1", b"conv-1\r\nx: y"], None),
        ([b"bad id", b"bad id"], None),
    ],
)
async def test_duplicated_headers(values: list[bytes], expected: str | None) -> None:
    """Identical repeats count once; repeats that differ are invalid (a new id is made)."""
    exchange = await drive([(b"host", b"x"), *((HEADER, value) for value in values)])
    if expected is None:
        assert is_uuid7(exchange.conversation_id)
    else:
        assert exchange.conversation_id == expected
    assert len(exchange.header_values(HEADER)) == 1


@pytest.mark.parametrize("hostile", HOSTILE.values(), ids=HOSTILE.keys())
async def test_hostile_user_header_never_becomes_the_user(
    hostile: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """A hostile user header is ignored (constant warning); the request goes on."""
    caplog.set_level(logging.DEBUG)
    exchange = await drive([(b"x-user-id", hostile)], user_header_name="x-user-id")
    assert exchange.called
    assert exchange.user_id is None
    assert_nothing_leaked(exchange, hostile, caplog.text)


@pytest.mark.parametrize(
    "query",
    [b"cid=conv%0D%0Aset-cookie:x", b"cid=conv%00", b"cid=a&cid=b", b"cid=caf%E9", b"cid="],
)
async def test_hostile_query_parameter_is_replaced(query: bytes) -> None:
    """Percent-encoded control bytes, latin-1, conflicting repeats or empty values are refused."""
    exchange = await drive(query=query, query_param="cid")
    assert is_uuid7(exchange.conversation_id)


async def test_warnings_are_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    """A flood of invalid ids logs one warning a minute per middleware, not one per request."""
    caplog.set_level(logging.WARNING)
    middleware = ConversationMiddleware(plain_app)

    async def receive() -> Message:
        return {"type": "http.request"}

    async def send(message: Message) -> None:
        return None

    for _ in range(50):
        await middleware(http_scope([(HEADER, b"bad id")]), receive, send)
    assert len(caplog.records) == 1


# -- property tests ------------------------------------------------------------------------

ALPHABET = st.sampled_from([bytes([b]) for b in ALLOWED])


@given(st.binary(max_size=300))
def test_default_rule_is_exactly_the_documented_pattern(raw: bytes) -> None:
    """`accept` takes exactly 1-128 bytes of [A-Za-z0-9._:@/+=-], returned as the same text."""
    result = accept(raw, None)
    assert (result is not None) == bool(DEFAULT_RULE.fullmatch(raw))
    if result is not None:
        assert result.encode("latin-1") == raw


@given(st.lists(ALPHABET, min_size=1, max_size=200).map(b"".join))
def test_ids_made_of_the_alphabet_pass_up_to_the_limit(raw: bytes) -> None:
    """Any id from the alphabet passes exactly when it is at most 128 characters long."""
    assert (accept(raw, None) is not None) == (len(raw) <= MAX_LENGTH)


@given(st.binary(max_size=300))
def test_a_permissive_validator_never_gets_control_characters(raw: bytes) -> None:
    """Whatever a validator says, an id is UTF-8 with no control, format or separator."""
    result = accept(raw, lambda value: True)
    try:
        text: str | None = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    safe = text is not None and all(
        unicodedata.category(c) not in {"Cc", "Cf", "Zl", "Zp"} for c in text
    )
    assert (result is not None) == (bool(raw) and safe)
    if result is not None:
        assert result.encode() == raw


@given(st.text(max_size=50))
def test_a_permissive_validator_never_lets_through_what_a_terminal_would_obey(text: str) -> None:
    """Arbitrary text: what is accepted is printable as it is (nothing to escape)."""
    result = accept(text.encode(), lambda value: True)
    if result is not None:
        assert printable(result) == result


@given(
    st.lists(st.tuples(st.sampled_from(["cid", "other", "c i d", "c&d", "ü"]), st.text())),
    st.sampled_from(["cid", "c i d", "c&d", "ü"]),
)
def test_query_values_match_what_urlencode_wrote(pairs: list[tuple[str, str]], key: str) -> None:
    """Every value of the key in an urlencoded query is found, decoded, in order."""
    query = urlencode(pairs).encode("ascii")
    expected = [value.encode() for name, value in pairs if name == key]
    assert find_query_values(query, key.encode()) == expected


@given(st.lists(st.binary(max_size=8), max_size=5))
def test_single_applies_the_duplicate_rule(values: list[bytes]) -> None:
    """No values: absent; all equal: that value; any difference: a conflict."""
    found, differ = single(values)
    if not values:
        assert (found, differ) == (None, False)
    elif len(set(values)) == 1:
        assert (found, differ) == (values[0], False)
    else:
        assert (found, differ) == (None, True)


HEADER_NAMES = st.sampled_from([HEADER, b"x-user-id", b"host", b"x-conversation", b"accept"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(HEADER_NAMES, st.binary(max_size=200)), max_size=6))
def test_whatever_the_headers_the_context_and_response_stay_clean(
    headers: list[tuple[bytes, bytes]],
) -> None:
    """For any headers: the app sees the sent id only if it is valid and unique, else a uuid7."""
    exchange = asyncio.run(drive(headers, user_header_name="x-user-id"))
    sent = [value for name, value in headers if name == HEADER]
    users = [value for name, value in headers if name == b"x-user-id"]
    if sent and len(set(sent)) == 1 and DEFAULT_RULE.fullmatch(sent[0]):
        assert exchange.conversation_id == sent[0].decode("ascii")
    else:
        assert is_uuid7(exchange.conversation_id)
    if users and len(set(users)) == 1 and DEFAULT_RULE.fullmatch(users[0]):
        assert exchange.user_id == users[0].decode("ascii")
    else:
        assert exchange.user_id is None
    [echoed] = exchange.header_values(HEADER)
    assert DEFAULT_RULE.fullmatch(echoed)
    assert echoed.decode("ascii") == exchange.conversation_id
