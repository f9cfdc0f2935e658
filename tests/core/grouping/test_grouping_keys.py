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
    assert maker.finish(state.digest()) == hmac.new(secret, data, hashlib.sha256).hexdigest()[:32]


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


def test_long_histories_hash_in_chunks_like_one_hmac() -> None:
    """Histories far longer than one hashing chunk, ASCII or not, key like one HMAC of all bytes."""
    from convtrack.grouping._encode import encode_value
    from convtrack.grouping._hashing import _CHUNK_CHARS, _VERSION

    secret = b"long"
    maker = KeyMaker(secret)
    big = "y" * (_CHUNK_CHARS + 7)
    pieces = ["x" * 10, "\u00e9" * 5000, big, "\ud800z" * 300, "\U0001f600" * 900]
    history = [(user if i % 3 else bot)(pieces[i % len(pieces)] + str(i)) for i in range(301)]
    history += [bot("end")] * 3
    running = hmac.new(secret, encode_value([_VERSION, None, None]).encode(), hashlib.sha256)
    expected = []
    for message in history:
        running.update(canonical_bytes(message))
        if message["role"] == "assistant":
            expected.append(running.copy().hexdigest()[:32])
    expected.reverse()
    assert history_key(maker, history, None, None, None) == expected[0]
    lazy = prefix_keys(maker, history, None, None, None)
    assert lazy[0] == expected[0]
    assert list(lazy) == expected
    assert list(prefix_keys(maker, history, None, None, None, lazy=False)) == expected


@pytest.mark.parametrize("sizes", [[1] * 5000, [100] * 3000, [50_000, 1, 1] * 5, [3, 70_000, 9]])
def test_feed_passes_all_text_in_chunks(sizes: list[int]) -> None:
    """_feed hands every byte over once, in order; uniform texts go in chunks of ~_CHUNK_CHARS."""
    from convtrack.grouping._hashing import _CHUNK_CHARS, _feed

    texts = [chr(ord("a") + i % 26) * size for i, size in enumerate(sizes)]
    chunks: list[bytes] = []
    _feed(chunks.append, texts, 1, len(texts))
    assert b"".join(chunks) == "".join(texts[1:]).encode()
    if len(set(sizes)) == 1:
        assert len(chunks) >= sum(sizes) // (2 * _CHUNK_CHARS)
        assert all(len(chunk) <= 2 * _CHUNK_CHARS for chunk in chunks)


class RecordingStore:
    """A store that is not a MemoryStore (so the grouper computes its keys eagerly)."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.read: list[list[str]] = []

    def claim(self, keys: Any) -> Any:
        self.read.append(list(keys))
        for index, key in enumerate(keys):
            if key in self.data:
                return (index, self.data.pop(key))
        return None

    def peek(self, keys: Any) -> Any:
        raise NotImplementedError

    def put(self, key: str, value: str, ttl: float) -> None:
        self.data[key] = value


def test_memory_and_other_stores_see_the_same_keys() -> None:
    """Lazy keys (MemoryStore) and eager keys (any other store) are the same keys."""
    from convtrack.grouping import ConversationGrouper, MemoryStore

    history = [m for i in range(30) for m in (user(f"q{i}"), bot(f"a{i}"))] + [user("next")]
    memory = ConversationGrouper(MemoryStore(), secret=b"shared")
    recording_store = RecordingStore()
    recording = ConversationGrouper(recording_store, secret=b"shared")
    memory.remember(history[:40], "c-40")
    recording.remember(history[:40], "c-40")
    assert list(recording_store.data) == [history_key(memory._keys, history[:40], None, None, None)]
    got = memory.resolve(history)
    assert (got.conversation_id, got.matched_length) == ("c-40", 40)
    got = recording.resolve(history)
    assert (got.conversation_id, got.matched_length) == ("c-40", 40)
    (read,) = recording_store.read
    assert read == list(prefix_keys(memory._keys, history, None, None, None))
    assert len(read) == 30
