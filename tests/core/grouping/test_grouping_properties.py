"""Property tests: canonicalisation is stable, total, and the fast path matches the generic one."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import hmac
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from convtrack.grouping import canonical_bytes
from convtrack.grouping._hashing import KeyMaker, history_key, prefix_keys

SECRET = b"property-secret"
MAKER = KeyMaker(SECRET)
ROLES = ("user", "assistant", "system", "developer", "tool")

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: Any
    y: Any


class Plain:
    def __init__(self, value: Any) -> None:
        self.value = value


junk_scalars = (
    json_scalars
    | st.binary(max_size=8)
    | st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=3)
    | st.sampled_from([Colour.RED, object(), len, str, 10**400, float("-inf")])
    | st.builds(Point, json_scalars, json_scalars)
    | st.builds(Plain, json_scalars)
)
junk_values = st.recursive(
    junk_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.frozensets(st.integers() | st.text(max_size=4), max_size=3)
        | st.dictionaries(st.text(max_size=6) | st.integers() | st.booleans(), inner, max_size=4)
        | st.builds(Plain, inner)
    ),
    max_leaves=25,
)
tool_calls = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.text(min_size=1, max_size=6),
            "type": st.just("function"),
            "function": st.fixed_dictionaries(
                {
                    "name": st.text(min_size=1, max_size=6),
                    "arguments": json_values.map(json.dumps),
                }
            ),
        }
    ),
    max_size=2,
)
json_messages = st.fixed_dictionaries(
    {"role": st.sampled_from(ROLES)},
    optional={
        "content": st.none()
        | st.text()
        | st.lists(
            st.fixed_dictionaries({"type": st.just("text"), "text": st.text()}) | json_values,
            max_size=3,
        ),
        "name": st.none() | st.text(max_size=5),
        "tool_calls": tool_calls,
        "tool_call_id": st.none() | st.text(max_size=5),
    },
)
simple_messages = st.builds(
    lambda role, content: {"role": role, "content": content},
    st.sampled_from(ROLES),
    st.text(min_size=1, max_size=30),
)


@given(junk_values)
def test_any_value_encodes_without_error_and_stably(value: Any) -> None:
    """Arbitrary nested junk never raises and always gives the same bytes."""
    first = canonical_bytes(value)
    assert isinstance(first, bytes)
    assert canonical_bytes(value) == first
    assert canonical_bytes({"role": "user", "content": value}) == canonical_bytes(
        {"role": "user", "content": value}
    )


@given(st.lists(json_messages | json_values, max_size=5))
def test_a_history_and_its_json_round_trip_hash_equal(history: list[Any]) -> None:
    """Messages and values equal their JSON round trip (tuples, float keys, tool args)."""
    round_trip = json.loads(json.dumps(history))
    assert [canonical_bytes(m) for m in history] == [canonical_bytes(m) for m in round_trip]
    assert history_key(MAKER, history, None, "a", None) == history_key(
        MAKER, round_trip, None, "a", None
    )


@given(st.lists(simple_messages | json_messages, max_size=12), st.text(max_size=5) | st.none())
def test_one_pass_keys_equal_hmac_of_each_prefix(history: list[Any], agent: str | None) -> None:
    """Each prefix key is HMAC-SHA256 of the prefix's generic canonical bytes (fast path = generic).

    The fast path writes plain {"role", "content"} dicts itself; the reference here
    encodes every message with the generic canonicaliser and hashes each prefix anew.
    """
    keys = prefix_keys(MAKER, history, None, agent, None)
    expected = []
    for end in range(len(history), 0, -1):
        if history[end - 1]["role"] != "assistant":
            continue
        data = preamble(agent) + b"".join(canonical_bytes(m) for m in history[:end])
        expected.append(hmac.new(SECRET, data, hashlib.sha256).hexdigest()[:32])
    assert list(keys) == expected
    assert list(keys.lengths) == [
        end for end in range(len(history), 0, -1) if history[end - 1]["role"] == "assistant"
    ]


def preamble(agent: str | None) -> bytes:
    """The scope preamble the key maker hashes before the messages."""
    from convtrack.grouping._encode import encode_value
    from convtrack.grouping._hashing import _VERSION

    return encode_value([_VERSION, agent, None]).encode()


@given(
    st.lists(simple_messages, min_size=1, max_size=6),
    st.lists(simple_messages, min_size=1, max_size=6),
)
def test_different_histories_give_different_keys(a: list[Any], b: list[Any]) -> None:
    """Distinct plain histories (whatever their split into messages) never share a key."""
    a = [*a, {"role": "assistant", "content": "end"}]
    b = [*b, {"role": "assistant", "content": "end"}]
    key_a = history_key(MAKER, a, None, None, None)
    key_b = history_key(MAKER, b, None, None, None)
    assert (key_a == key_b) == (a == b)


@settings(max_examples=50)
@given(st.text(min_size=1), st.sampled_from(ROLES))
def test_fast_path_writes_what_the_generic_path_writes(content: str, role: str) -> None:
    """A plain dict hashes like an equivalent message that must take the generic path."""
    plain = [{"role": role, "content": content}, {"role": "assistant", "content": "x"}]
    generic = [
        {"role": role, "content": [{"type": "text", "text": content}]},
        {"role": "assistant", "content": "x", "name": None},
    ]
    assert history_key(MAKER, plain, None, None, None) == history_key(
        MAKER, generic, None, None, None
    )


def generic_twin(message: Any) -> Any:
    """The same message, forced off the fast path: an extra None field means nothing."""
    if isinstance(message, dict) and set(message) == {"role", "content"}:
        return {**message, "name": None}
    return message


@given(
    st.lists(simple_messages | json_messages, max_size=12),
    st.none() | st.text(max_size=5),
    st.randoms(use_true_random=False),
)
def test_lazy_keys_read_in_any_order_equal_eager_keys(
    history: list[Any], system: str | None, rnd: Any
) -> None:
    """Lazily computed keys, read in any order, equal eagerly computed ones and remember()'s.

    Both the fast path and the generic path (the same history with an extra None
    field on every plain message) give the same keys, lazily or eagerly.
    """
    eager = prefix_keys(MAKER, history, system, "a", None, lazy=False)
    expected = list(eager)
    ends = [end for end in range(len(history), 0, -1) if history[end - 1]["role"] == "assistant"]
    assert list(eager.lengths) == ends
    assert expected == [history_key(MAKER, history[:end], system, "a", None) for end in ends]

    twin = [generic_twin(m) for m in history]
    for messages in (history, twin):
        assert list(prefix_keys(MAKER, messages, system, "a", None)) == expected
        assert list(prefix_keys(MAKER, messages, system, "a", None, lazy=False)) == expected
        lazy = prefix_keys(MAKER, messages, system, "a", None)
        order = list(range(len(expected))) + list(range(-len(expected), 0))
        rnd.shuffle(order)
        for index in order:
            assert lazy[index] == expected[index]
        assert list(lazy) == expected
        assert list(lazy.lengths) == ends
        # The longest first, as a store reads them, then the rest by iteration.
        fresh = prefix_keys(MAKER, messages, system, "a", None)
        if expected:
            assert fresh[0] == expected[0]
        assert list(fresh) == expected
