"""Benchmark automatic grouping: resolve() on a long history, against the naive method.

Run: ``python benchmarks/bench_grouping.py``. Prints medians measured in this run:

- ``resolve`` on a 2001-message history (alternating user/assistant, 1000
  assistant messages, ~210 characters each, ~420 KB of text) with a MemoryStore,
  when the previous turn is found (the usual case: the longest prefix hits) and
  when nothing is found (every one of the 1000 prefix keys is computed);
- the naive method: canonicalise and hash each prefix from scratch; and its fastest form,
  the C `json.dumps` of each prefix hashed with SHA-256 (no canonicalisation: it would
  not group equal histories of other shapes), which tells how this machine compares with
  the one the goal was set on (about 330 ms there);
- all the keys in one pass, as computed for a store that reads them all (RedisStore);
- ``remember``, the generic (non-fast-path) canonicalisation of the same history,
  raw SHA-256 vs keyed BLAKE2b over the canonical bytes, and the memory a
  MemoryStore holds at its bound.
"""

from __future__ import annotations

import gc
import hashlib
import json
import random
import statistics
import string
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from convtrack._context import new_conversation_id
from convtrack.grouping import ConversationGrouper, MemoryStore, canonical_bytes
from convtrack.grouping._hashing import KeyMaker, prefix_keys

ASSISTANT_TURNS = 1000
TEXT_CHARS = 210


def make_history(turns: int = ASSISTANT_TURNS) -> list[dict[str, Any]]:
    """User/assistant messages alternating, starting and ending with the user: 2*turns+1."""
    rng = random.Random(3)
    alphabet = string.ascii_letters + "      .,"

    def text() -> str:
        return "".join(rng.choices(alphabet, k=TEXT_CHARS))

    history: list[dict[str, Any]] = []
    for _ in range(turns):
        history.append({"role": "user", "content": text()})
        history.append({"role": "assistant", "content": text()})
    history.append({"role": "user", "content": text()})
    return history


def median_ms(
    fn: Callable[[], object], runs: int, setup: Callable[[], object] | None = None
) -> float:
    """Median wall time of `fn` in milliseconds (`setup` runs untimed before each call)."""
    times = []
    for _ in range(runs):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def assistant_ends(history: list[Any]) -> list[int]:
    """The lengths of the prefixes ending at an assistant message, longest first."""
    return [
        end for end in range(len(history), 0, -1) if history[end - 1].get("role") == "assistant"
    ]


def naive_keys(maker: KeyMaker, history: list[Any]) -> list[str]:
    """The naive method: canonicalise and hash every prefix ending at an assistant message."""
    keys = []
    for end in assistant_ends(history):
        state = maker.start(None, None)
        for message in history[:end]:
            state.update(canonical_bytes(message))
        keys.append(maker.finish(state.digest()))
    return keys


def json_naive_keys(history: list[Any]) -> list[str]:
    """The fastest naive form: SHA-256 of the C-encoded JSON of every prefix, longest first."""
    return [
        hashlib.sha256(json.dumps(history[:end], sort_keys=True).encode()).hexdigest()
        for end in assistant_ends(history)
    ]


def store_memory(entries: int) -> float:
    """MiB traced for a MemoryStore holding `entries` (keys: 32 hex chars; values: uuid7)."""
    gc.collect()
    tracemalloc.start()
    store = MemoryStore(max_entries=entries)
    for i in range(entries):
        store.put(f"{i:032x}", new_conversation_id(), 3600.0)
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(store) == entries
    return size / 2**20


def main() -> None:
    """Run the measurements and print them."""
    history = make_history()
    chars = sum(len(m["content"]) for m in history)
    print(
        f"python {sys.version.split()[0]}; history: {len(history)} messages, "
        f"{ASSISTANT_TURNS} assistant, {chars / 1000:.0f} KB of text"
    )
    store = MemoryStore()
    grouper = ConversationGrouper(store, secret=b"benchmark")
    conversation = new_conversation_id()
    answered = history[:-1]  # the previous turn's request + answer

    def remember_previous_turn() -> None:
        grouper.remember(answered, conversation)

    remember_previous_turn()
    hit = grouper.resolve(history)
    assert hit.grouping == "auto-matched", hit
    assert hit.matched_length == len(answered), hit
    miss = grouper.resolve(history)
    assert miss.grouping == "auto-new", miss

    hit_ms = median_ms(lambda: grouper.resolve(history), 301, setup=remember_previous_turn)
    miss_ms = median_ms(lambda: grouper.resolve(history), 101)
    remember_ms = median_ms(remember_previous_turn, 301)
    maker = KeyMaker(b"benchmark")
    assert naive_keys(maker, history)[0] == grouper._keys.finish(  # same keys as one pass
        _full_state(maker, answered).digest()
    )
    naive_ms = median_ms(lambda: naive_keys(maker, history), 5)
    json_naive_ms = median_ms(lambda: json_naive_keys(history), 5)
    eager_ms = median_ms(
        lambda: list(prefix_keys(maker, history, None, None, None, lazy=False)), 101
    )

    generic = [{"role": m["role"], "content": m["content"], "name": None} for m in history]
    generic_ms = median_ms(lambda: grouper.resolve(generic), 51)

    data = b"".join(canonical_bytes(m) for m in history)
    sha_ms = median_ms(lambda: hashlib.sha256(data).digest(), 201)
    blake_ms = median_ms(lambda: hashlib.blake2b(data, key=b"k" * 32, digest_size=16).digest(), 201)

    print(f"resolve, previous turn found (longest prefix hits): median {hit_ms:8.3f} ms")
    print(f"resolve, nothing found (all {ASSISTANT_TURNS} keys computed): median {miss_ms:8.3f} ms")
    print(f"naive: canonicalise + hash each prefix from scratch: median {naive_ms:8.1f} ms")
    print(
        f"  speed-up vs naive: {naive_ms / hit_ms:,.0f}x (found), {naive_ms / miss_ms:,.0f}x "
        "(nothing found)"
    )
    print(
        f"naive, fastest form: json.dumps + SHA-256 of each prefix: median {json_naive_ms:8.1f} ms"
    )
    print(
        f"  speed-up vs that: {json_naive_ms / hit_ms:,.0f}x (found), "
        f"{json_naive_ms / miss_ms:,.0f}x (nothing found); the goal's ratio: 330 ms / 1 ms = 330x"
    )
    print(
        f"all {ASSISTANT_TURNS} keys in one pass, as a RedisStore reads them (no store): "
        f"median {eager_ms:8.3f} ms"
    )
    print(f"remember (hash the whole history, store the key): median {remember_ms:8.3f} ms")
    print(f"resolve, generic path (dicts with an extra None field): median {generic_ms:8.3f} ms")
    print(
        f"raw hashing of the {len(data) / 1000:.0f} KB canonical bytes: SHA-256 {sha_ms:.3f} ms, "
        f"keyed BLAKE2b {blake_ms:.3f} ms"
    )
    print(f"(machine speed reference: a 1,000,000-step Python loop takes {loop_ms():.0f} ms)")
    for entries in (100_000,):
        mib = store_memory(entries)
        print(
            f"MemoryStore at its bound ({entries:,} entries): {mib:.1f} MiB "
            f"({mib * 2**20 / entries:.0f} bytes/entry)"
        )


def loop_ms() -> float:
    """Median time of a plain Python loop, to compare machines."""

    def spin() -> int:
        total = 0
        for i in range(1_000_000):
            total += i
        return total

    return median_ms(spin, 5)


def _full_state(maker: KeyMaker, history: list[Any]) -> Any:
    state = maker.start(None, None)
    for message in history:
        state.update(canonical_bytes(message))
    return state


if __name__ == "__main__":
    main()
