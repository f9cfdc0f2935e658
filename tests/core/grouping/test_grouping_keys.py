"""Store keys: HMAC-SHA256 of the canonical history, computed in one pass, scoped, lazy."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest

from convtrack.grouping import canonical_bytes
from convtrack.grouping._hashing import KeyMaker, history_key, prefix_keys


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def bot(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


HISTORY = [user("a"), bot("b"), user("c"), bot("d"), user("e")]


@pytest.mark.parametrize("secret", [b"k", b"x" * 64, b"long" * 40, "unicode-\u00e9".encode()])
def test_keys_are_standard_hmac_sha256_truncated(secret: bytes) -> None:
    """A key equals hmac.new(secret, data, sha256) truncated to 128 bits, for any secret length."""
    maker = KeyMaker(secret)
    state = maker.start(None, None)
    state.update(b"payload")
    from convtrack.grouping._encode import encode_value
    from convtrack.grouping._hashing import _VERSION

    data = encode_value([_VERSION, None, None]).encode() + b"payload"
    assert maker.finish(state) == hmac.new(secret, data, hashlib.sha256).hexdigest()[:32]


def test_prefix_keys_are_longest_first_and_match_whole_history_keys() -> None:
    """Key i of a request is the key remember() stores for the i-th longest prefix."""
    maker = KeyMaker(b"s")
    keys = prefix_keys(maker, HISTORY, None, "agent", None)
    assert list(keys.lengths) == [4, 2]
    assert list(keys) == [
        history_key(maker, HISTORY[:4], None, "agent", None),
        history_key(maker, HISTORY[:2], None, "agent", None),
    ]


def test_keys_are_hex_and_do_not_contain_or_equal_plain_hashes_of_content() -> None:
    """Keys are 32 lowercase hex chars, unlike an unkeyed hash of the same bytes."""
    maker = KeyMaker(b"s")
    key = history_key(maker, [user("password 1234"), bot("ok")], None, None, None)
    assert key is not None
    assert len(key) == 32
    assert key == key.lower()
    int(key, 16)
    plain = hashlib.sha256(
        b"".join(canonical_bytes(m) for m in [user("password 1234"), bot("ok")])
    ).hexdigest()
    assert plain[:32] != key


def test_secret_changes_every_key() -> None:
    """Two secrets give different keys for the same history."""
    a = history_key(KeyMaker(b"one"), HISTORY[:2], None, None, None)
    b = history_key(KeyMaker(b"two"), HISTORY[:2], None, None, None)
    assert a != b


@pytest.mark.parametrize(
    ("scope_a", "scope_b"),
    [
        ((None, None), ("", None)),
        (("a", None), (None, "a")),
        (("a", "b"), ("b", "a")),
        (("ab", None), ("a", "b")),
    ],
)
def test_agent_and_tenant_scopes_never_collide(
    scope_a: tuple[str | None, str | None], scope_b: tuple[str | None, str | None]
) -> None:
    """None vs "", agent vs tenant, and split points of the scope all give different keys."""
    maker = KeyMaker(b"s")
    assert history_key(maker, HISTORY[:2], None, *scope_a) != history_key(
        maker, HISTORY[:2], None, *scope_b
    )


def test_message_boundaries_are_unambiguous() -> None:
    """Moving text between messages or roles changes the key."""
    maker = KeyMaker(b"s")
    variants = [
        [user("ab"), bot("c")],
        [user("a"), bot("bc")],
        [user("a"), user("b"), bot("c")],
        [user("a"), {"role": "user", "content": "b", "name": None}, bot("c")],
    ]
    keys = [history_key(maker, v, None, None, None) for v in variants]
    assert len(set(keys[:3])) == 3
    assert keys[2] == keys[3]


def test_history_key_needs_a_final_assistant_message() -> None:
    """Only a history ending with the answer gets a key."""
    maker = KeyMaker(b"s")
    assert history_key(maker, [user("a")], None, None, None) is None
    assert history_key(maker, [], None, None, None) is None
    assert history_key(maker, None, None, None, None) is None  # type: ignore[arg-type]


def test_prefix_keys_are_computed_only_when_read() -> None:
    """A store that stops at the first key finalises only that key."""
    maker = KeyMaker(b"s")
    calls: list[Any] = []
    original = maker.finish

    class CountingMaker(KeyMaker):
        def finish(self, inner: Any) -> str:
            calls.append(inner)
            return original(inner)

    counting = CountingMaker(b"s")
    history = [m for i in range(50) for m in (user(f"q{i}"), bot(f"a{i}"))]
    keys = prefix_keys(counting, history, None, None, None)
    assert len(keys) == 50
    assert keys[0] == keys[0] == history_key(maker, history, None, None, None)
    assert len(calls) == 1
    assert keys[-1] == keys[49] == history_key(maker, history[:2], None, None, None)
    assert keys[1:3] == [keys[1], keys[2]]
    assert len(calls) == 4
    with pytest.raises(IndexError):
        keys[50]


def test_keys_are_the_same_in_another_process() -> None:
    """Keys do not depend on the process (hash seed, object ids): replicas agree."""
    import os
    import subprocess
    import sys

    code = (
        "from convtrack.grouping._hashing import KeyMaker, history_key\n"
        "h = [{'role': 'user', 'content': [{'type': 'text', 'text': 'a'}], 'x': {'s', 't'}},\n"
        "     {'role': 'assistant', 'tool_calls': [{'id': '1', 'function': {'name': 'f',\n"
        '      \'arguments\': \'{"b": [1, 2.5, null], "a": {"z": 1, "y": 2}}\'}}]},\n'
        "     frozenset({'p', 'q', 'r'}), object(), {'role': 'assistant', 'content': 'c'}]\n"
        "print(history_key(KeyMaker(b's'), h, 'sys', 'agent', 'tenant'))\n"
    )
    keys = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": os.pathsep.join(sys.path)}
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        keys.add(result.stdout.strip())
    here: dict[str, Any] = {}
    exec(code.replace("print(", "key = ("), here)
    assert keys == {here["key"]}
    assert len(here["key"]) == 32
