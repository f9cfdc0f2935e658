"""Hostile filter values: a clear ValueError or a literal match, never an SQL error or an
injection."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from store_support import chat

from convtrack import SQLiteSink
from convtrack.sinks import next_cursor

HOSTILE = [
    "'",
    '"',
    "' OR 1=1 --",
    '"; DROP TABLE runs; --',
    "%",
    "_",
    "a.b",
    "*",
    "refund*",
    "NEAR(refund parcel)",
    "refund OR parcel",
    "refund AND NOT parcel",
    "(",
    "((refund",
    ")",
    "^refund",
    "body:refund",
    "-refund",
    "+",
    "\x00",
    "\\",
    "\u202e",
    "x" * 1000,
    "",
    "   ",
]
ODD = {
    "quote'key": "it's",
    'dq"key': 'say "hi"',
    "dot.key": "1.5%",
    "under_score": "%_",
    "paren(": "NEAR(",
}


@pytest.fixture
def store(new_store: Callable[[], Any]) -> Any:
    """A store (of each kind) whose messages and metadata hold the characters attackers like."""
    sink = new_store()
    sink.export(
        [
            chat("r1", "plain", "refund parcel", "ok", metadata={"customer_id": "cust-77"}),
            chat("r2", "odd", 'NEAR( "quoted" 100% a_b', "' OR 1=1 --", metadata=ODD, at=5),
        ]
    )
    return sink


def tables(sink: Any) -> set[str]:
    """The store's tables (an injected DROP would show here)."""
    if not isinstance(sink, SQLiteSink):
        import psycopg

        with psycopg.connect(sink.dsn) as pg:
            rows = pg.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (sink.schema,),
            )
            return {r[0] for r in rows}
    conn = sqlite3.connect(sink.path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("name", ["user_id", "agent_id", "query", "text"])
def test_hostile_strings_match_literally(store: Any, name: str, value: str) -> None:
    """Any string in an id or text filter is matched as written: no SQL error, no injection."""
    before = tables(store)
    found = store.conversations(None, **{name: value})
    assert {s.conversation_id for s in found} <= {"plain", "odd"}
    if name != "text" and value.strip():
        assert found == []  # no id or user holds these strings
    assert tables(store) == before
    assert store.count() == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NEAR(", ["odd"]),
        ('"quoted"', ["odd"]),
        ("100%", ["odd"]),
        ("a_b", ["odd"]),
        ("OR 1=1", ["odd"]),
        ("refund*", ["plain"]),  # punctuation is no part of a word
        ("refund", ["plain"]),
    ],
)
def test_text_syntax_is_literal(store: Any, text: str, expected: list[str]) -> None:
    """FTS operators in `text=` are words to find, not query syntax."""
    assert [s.conversation_id for s in store.conversations(None, text=text)] == expected


@pytest.mark.parametrize(("key", "value"), list(ODD.items()))
def test_odd_metadata_keys_and_values_match_literally(store: Any, key: str, value: str) -> None:
    """Metadata keys with dots or quotes, values with % or _, match only themselves."""
    assert [s.conversation_id for s in store.conversations(metadata={key: value})] == ["odd"]
    assert store.conversations(metadata={key: value + "x"}) == []


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"metadata": {"customer_id": {"nested": 1}}}, "must be a string, number, boolean"),
        ({"metadata": {"k": ["list"]}}, "must be a string, number, boolean"),
        ({"metadata": {"k": "v" * 501}}, "at most 500 characters"),
        ({"metadata": {"": "v"}}, "keys are non-empty strings"),
        ({"metadata": {1: "v"}}, "keys are non-empty strings"),
        ({"metadata": "customer_id=cust-77"}, "expected a mapping"),
        ({"status": "broken"}, "status: 'broken' is not one of error, ok"),
        ({"status": "'; DROP TABLE runs; --"}, "is not one of"),
        ({"user_id": 42}, "user_id: expected a string"),
        ({"text": ["refund"]}, "text: expected a string"),
        ({"text": "x" * 1001}, "text: longer than 1000"),
        ({"since": "yesterday"}, "since: expected a datetime"),
        ({"until": 12}, "until: expected a datetime"),
        ({"limit": 0}, "limit: expected a whole number"),
        ({"limit": "50"}, "limit: expected a whole number"),
        ({"limit": True}, "limit: expected a whole number"),
    ],
)
def test_bad_filters_raise_a_clear_value_error(
    store: Any, filters: dict[str, Any], message: str
) -> None:
    """A filter of the wrong type or value raises ValueError naming it (never sqlite3.Error)."""
    with pytest.raises(ValueError, match=message.replace("(", r"\(")) as caught:
        store.conversations(**filters)
    assert not isinstance(caught.value, sqlite3.Error)


def test_numbers_and_booleans_in_metadata_filters(new_store: Callable[[], Any]) -> None:
    """Non-string metadata values are matched by their JSON text (5, true, null)."""
    sink = new_store()
    sink.export([chat("r1", "c1", "q", "a", metadata={"n": 5, "ok": True, "none": None})])
    for value in ({"n": 5}, {"ok": True}, {"none": None}, {"n": 5, "ok": True}):
        assert [s.conversation_id for s in sink.conversations(metadata=value)] == ["c1"]
    assert sink.conversations(metadata={"n": 6}) == []


def tampered(cursor: str) -> list[str]:
    """Ways to spoil a cursor: edit a character, cut it, drop its checksum, make one up."""
    body, mac = cursor.split(".")
    flipped = body[:-1] + ("A" if body[-1] != "A" else "B")
    return [
        f"{flipped}.{mac}",
        cursor[:-3],
        body,
        f"{body}.{mac}.x",
        "eyJ4IjogMX0.AAAAAAAAAAAAAAAA",
        "' OR 1=1 --",
        "",
        "." * 10,
        "x" * 100_000,
    ]


def test_tampered_cursors_are_a_clear_value_error(store: Any) -> None:
    """A cursor that was edited, cut or made up is refused with a ValueError saying so."""
    cursor = next_cursor(store.conversations(1))
    assert cursor is not None
    assert [s.conversation_id for s in store.conversations(before=cursor)] == ["plain"]
    for bad in tampered(cursor):
        with pytest.raises(ValueError, match="before: not a cursor"):
            store.conversations(before=bad)
    with pytest.raises(ValueError, match="before: not a cursor"):
        store.conversations(before=12)  # type: ignore[arg-type]
