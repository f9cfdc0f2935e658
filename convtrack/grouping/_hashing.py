"""One-pass keyed hashing of a message history into store keys.

Why HMAC-SHA256 (RFC 2104), computed with ``hashlib`` states:

- It is a MAC: without the secret, a store key tells nothing about the messages
  and cannot be recomputed from a guess of them.
- SHA-256 runs in hardware on current x86-64 and ARM CPUs (OpenSSL): hashing the
  canonical bytes of a 2001-message history (~490 KB) takes about half the time
  keyed BLAKE2b needs (0.3 vs 0.6 ms; ``benchmarks/bench_grouping.py`` measures
  both).
- HMAC's inner hash is a plain running SHA-256 state, so every prefix of the
  history is hashed in one pass: the canonical text is fed once, in order, one
  update per stretch between assistant messages, and the inner digest is taken
  at each assistant message. A key is finalised (outer hash of the inner digest,
  from the pre-keyed outer state) only when the store reads it. The keys equal
  ``hmac.new(secret, data, "sha256")`` truncated to 128 bits (32 hex characters).
- Lazily, for a store that reads keys longest first and stops at the first hit
  (``MemoryStore``, which nearly always hits the longest): the longest key alone
  is the whole canonical text fed in a few large chunks, with no intermediate
  digests (each costs a state copy); the pass that digests every prefix runs
  only when a shorter key is read. A store that reads every key (``RedisStore``,
  one round trip) gets that pass at once.

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
    role: f"ds4:roles{len(role)}:{role}s7:contents"
    for role in ("user", "assistant", "system", "developer", "tool")
}
_CHUNK_CHARS = 32_768  # text joined per hash update (see _feed)


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

    def finish(self, inner_digest: bytes) -> str:
        """Return the store key (hex) for the digest of an inner state."""
        outer = self._outer_copy()
        outer.update(inner_digest)
        return outer.hexdigest()[:_KEY_HEX_CHARS]


class PrefixKeys(Sequence[str]):
    """Store keys of the prefixes ending at each assistant message, longest first.

    Each key is finalised only when read, so a store that finds the longest one
    never pays for the others. When `lazy`, the longest key is hashed on its own
    (one pass, no intermediate digests) and the pass digesting every prefix runs
    only when a shorter key is read; otherwise that pass runs at once.
    ``lengths[i]`` is the number of messages (not counting ``system``) that key
    ``i`` covers.
    """

    __slots__ = ("_digests", "_ends", "_keys", "_maker", "_start", "_texts", "lengths")

    def __init__(
        self,
        maker: KeyMaker,
        start: Any,
        texts: list[str],
        ends: list[int],
        lengths: list[int],
        *,
        lazy: bool,
    ) -> None:
        self._maker = maker
        self._start = start  # the preamble-fed inner state; the digest pass consumes it
        self._texts = texts
        self._ends = ends
        self._keys: list[str | None] = [None] * len(ends)
        # The inner digest of every prefix, shortest first, from one pass over the texts.
        self._digests = None if lazy else _prefix_digests(start, texts, ends)
        self.lengths: Sequence[int] = lengths[::-1]

    def __len__(self) -> int:
        return len(self._keys)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        key = self._keys[index]  # IndexError when out of range
        if key is None:
            index %= len(self._keys)
            key = self._keys[index] = self._maker.finish(self._digest(index))
        return key

    def __iter__(self) -> Iterator[str]:
        keys = self._keys
        if not keys:
            return
        yield self[0]
        # The store missed the longest key; it may read them all: KeyMaker.finish, inlined.
        digests = self._all_digests()
        outer_copy = self._maker._outer_copy
        for index in range(1, len(keys)):
            key = keys[index]
            if key is None:
                outer = outer_copy()
                outer.update(digests[-1 - index])
                key = keys[index] = outer.hexdigest()[:_KEY_HEX_CHARS]
            yield key

    def __repr__(self) -> str:
        return f"<PrefixKeys: {len(self)} keys>"

    def _digest(self, index: int) -> bytes:
        """The inner digest of key `index` (0 <= index < len(self))."""
        if index == 0 and self._digests is None:
            state = self._start.copy()
            _feed(state.update, self._texts, 0, self._ends[-1])
            digest: bytes = state.digest()
            return digest
        return self._all_digests()[-1 - index]

    def _all_digests(self) -> list[bytes]:
        digests = self._digests
        if digests is None:
            digests = self._digests = _prefix_digests(self._start, self._texts, self._ends)
        return digests


def prefix_keys(
    maker: KeyMaker,
    messages: Iterable[Any],
    system: object,
    agent_id: str | None,
    tenant: str | None,
    *,
    lazy: bool = True,
) -> PrefixKeys:
    """Canonicalise the history once; return the keys of its prefixes ending at assistant messages.

    `lazy` suits a store that reads the keys in order and usually stops at the
    first (``MemoryStore``); a store that reads them all (``RedisStore``) is
    better served eagerly, by one pass.
    """
    texts, ends, offset = _canonical_texts(messages, system)
    lengths = [end - offset for end in ends] if offset else ends
    return PrefixKeys(maker, maker.start(agent_id, tenant), texts, ends, lengths, lazy=lazy)


def history_key(
    maker: KeyMaker,
    history: Iterable[Any],
    system: object,
    agent_id: str | None,
    tenant: str | None,
) -> str | None:
    """Return the key of the whole history, or None unless it ends with an assistant message."""
    texts, ends, _ = _canonical_texts(history, system)
    if not ends or ends[-1] != len(texts):
        return None
    state = maker.start(agent_id, tenant)
    _feed(state.update, texts, 0, len(texts))
    return maker.finish(state.digest())


def _canonical_texts(messages: Iterable[Any], system: object) -> tuple[list[str], list[int], int]:
    """Return the canonical texts of `system` and the messages, and where assistant messages end.

    Returns ``(texts, ends, offset)``: one text per message, after the system
    text when there is one (``offset`` 1, else 0); ``ends`` lists, for each
    assistant message, the number of texts up to and including it.
    """
    texts: list[str] = []
    ends: list[int] = []
    head_text = system_text(system)
    if head_text is not None:
        texts.append(head_text)
    offset = len(texts)
    if messages is None:
        return texts, ends, offset
    append = texts.append
    heads = _FAST_HEADS
    assistant = heads["assistant"]
    for message in messages:
        # Fast path: {"role": <common role>, "content": <non-empty str>}, the bulk of histories;
        # it writes exactly what the generic path (message_text) writes for such a dict.
        if type(message) is dict and len(message) == 2:
            try:
                role = message["role"]
                content = message["content"]
            except KeyError:
                pass
            else:
                if type(role) is str and type(content) is str and content:
                    head = heads.get(role)
                    if head is not None:
                        append(f"{head}{len(content)}:{content}e")
                        if head is assistant:
                            ends.append(len(texts))
                        continue
        text, is_assistant = message_text(message)
        append(text)
        if is_assistant:
            ends.append(len(texts))
    return texts, ends, offset


def _feed(update: Any, texts: list[str], start: int, stop: int) -> None:
    """Call `update` with the UTF-8 bytes of ``texts[start:stop]``, in chunks.

    One join of a whole history would make two temporaries of its size (the str
    and its bytes); blocks that large come fresh from the OS, page faults and all,
    which costs more than hashing them. Chunks of about ``_CHUNK_CHARS`` do not.
    """
    step = 64
    while start < stop:
        end = min(start + step, stop)
        chunk = "".join(texts[start:end])
        update(chunk.encode("utf-8", "surrogatepass"))
        step = step * _CHUNK_CHARS // (len(chunk) or 1) + 1
        start = end


def _prefix_digests(state: Any, texts: list[str], ends: list[int]) -> list[bytes]:
    """Feed `texts` into `state`, one update per stretch ending at `ends`; digest at each end."""
    update = state.update
    digest = state.digest
    join = "".join
    digests: list[bytes] = []
    append = digests.append
    start = 0
    for end in ends:
        update(join(texts[start:end]).encode("utf-8", "surrogatepass"))  # _utf8, inlined
        append(digest())
        start = end
    return digests


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")
