"""One-pass keyed hashing of a message history into store keys.

Why HMAC-SHA256 (RFC 2104), computed with ``hashlib`` states:

- It is a MAC: without the secret, a store key tells nothing about the messages
  and cannot be recomputed from a guess of them.
- SHA-256 runs in hardware on current x86-64 and ARM CPUs (OpenSSL): hashing the
  canonical bytes of a 2001-message history (~490 KB) takes about half the time
  keyed BLAKE2b needs (0.3 vs 0.6 ms; ``benchmarks/bench_grouping.py`` measures
  both), and a state ``copy()`` costs about the same for both.
- HMAC's inner hash is a plain running SHA-256 state: the history is fed once, in
  order, and the state is ``copy()``-ed at each assistant message. A prefix key
  costs one copy during the pass and, only when the store asks for it, one
  finalisation (inner digest, then the pre-keyed outer state). The keys equal
  ``hmac.new(secret, data, "sha256")`` truncated to 128 bits (32 hex characters).

The hashed data is a preamble naming the scheme version, the agent and the tenant
(so the same history under another agent or tenant never matches), then each
message's canonical text (see ``_canonical``), UTF-8 encoded. The canonical text
of a message is a prefix-free code word (strings carry their length, containers
their end), so message boundaries are unambiguous without an extra length frame.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

from convtrack.grouping._canonical import message_text, system_text
from convtrack.grouping._encode import encode_value

_VERSION = "convtrack.grouping/1"
_BLOCK_SIZE = 64  # SHA-256 block size, for the HMAC key pads
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))
_KEY_HEX_CHARS = 32  # 128-bit keys
# Canonical text heads of the most common message, a dict with exactly "role" and a
# non-empty str "content": the encoder writes {"content": c, "role": r} as
# f"ds4:roles{len(r)}:{r}s7:contents{len(c)}:{c}e" (entries sorted by encoded key).
_FAST_HEADS = {
    role: (f"ds4:roles{len(role)}:{role}s7:contents", role == "assistant")
    for role in ("user", "assistant", "system", "developer", "tool")
}


class KeyMaker:
    """Holds the pre-keyed HMAC-SHA256 states for one secret (thread-safe: states are copied)."""

    __slots__ = ("_inner", "_outer_copy")

    def __init__(self, secret: bytes) -> None:
        key = hashlib.sha256(secret).digest() if len(secret) > _BLOCK_SIZE else secret
        key = key.ljust(_BLOCK_SIZE, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._outer_copy = hashlib.sha256(key.translate(_OPAD)).copy

    def start(self, agent_id: str | None, tenant: str | None) -> Any:
        """Return a running inner state fed with the scope preamble."""
        state = self._inner.copy()
        state.update(_utf8(encode_value([_VERSION, agent_id, tenant])))
        return state

    def finish(self, inner: Any) -> str:
        """Return the store key (hex) for a running inner state."""
        outer = self._outer_copy()
        outer.update(inner.digest())
        return outer.hexdigest()[:_KEY_HEX_CHARS]


class PrefixKeys(Sequence[str]):
    """Store keys of the prefixes ending at each assistant message, longest first.

    Each key is finalised only when read, so a store that finds the longest one
    never pays for the others. ``lengths[i]`` is the number of messages (not
    counting ``system``) that key ``i`` covers.
    """

    __slots__ = ("_cache", "_maker", "_states", "lengths")

    def __init__(self, maker: KeyMaker, states: list[Any], lengths: list[int]) -> None:
        states.reverse()
        lengths.reverse()
        self._maker = maker
        self._states = states
        self._cache: list[str | None] = [None] * len(states)
        self.lengths: Sequence[int] = lengths

    def __len__(self) -> int:
        return len(self._states)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        key = self._cache[index]
        if key is None:
            key = self._cache[index] = self._maker.finish(self._states[index])
        return key

    def __iter__(self) -> Iterator[str]:
        for i in range(len(self._states)):
            yield self[i]

    def __repr__(self) -> str:
        return f"<PrefixKeys: {len(self)} keys>"


def prefix_keys(
    maker: KeyMaker,
    messages: Iterable[Any],
    system: object,
    agent_id: str | None,
    tenant: str | None,
) -> PrefixKeys:
    """Hash the history once; keep the state at each assistant message."""
    states: list[Any] = []
    lengths: list[int] = []
    _walk(maker.start(agent_id, tenant), messages, system, states, lengths, snapshot=True)
    return PrefixKeys(maker, states, lengths)


def history_key(
    maker: KeyMaker,
    history: Iterable[Any],
    system: object,
    agent_id: str | None,
    tenant: str | None,
) -> str | None:
    """Return the key of the whole history, or None unless it ends with an assistant message."""
    state = maker.start(agent_id, tenant)
    if not _walk(state, history, system, [], [], snapshot=False):
        return None
    return maker.finish(state)


def _walk(
    state: Any,
    messages: Iterable[Any],
    system: object,
    states: list[Any],
    lengths: list[int],
    *,
    snapshot: bool,
) -> bool:
    """Feed the canonical history into `state`; return True if the last message is the assistant's.

    With `snapshot`, a copy of the state is appended to `states` at each assistant
    message, and the number of messages so far to `lengths`.
    """
    update = state.update
    copy = state.copy
    heads = _FAST_HEADS
    head_text = system_text(system)
    if head_text is not None:
        update(_utf8(head_text))
    if messages is None:
        return False
    is_assistant = False
    for count, message in enumerate(messages, 1):
        # Fast path: {"role": <common role>, "content": <non-empty str>}, the bulk of histories;
        # it writes exactly what the generic path (message_text) writes for such a dict.
        if type(message) is dict and len(message) == 2:
            content = message.get("content")
            role = message.get("role")
            if type(content) is str and content and type(role) is str:
                fast = heads.get(role)
                if fast is not None:
                    head, is_assistant = fast
                    text = f"{head}{len(content)}:{content}e"
                    try:
                        update(text.encode())
                    except UnicodeEncodeError:  # lone surrogates
                        update(_utf8(text))
                    if is_assistant and snapshot:
                        states.append(copy())
                        lengths.append(count)
                    continue
        text, is_assistant = message_text(message)
        update(_utf8(text))
        if is_assistant and snapshot:
            states.append(copy())
            lengths.append(count)
    return is_assistant


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")
