"""Entering a conversation, a decorated call and a traced call, against same-run baselines.

Goals (issue 2): `with conversation("id")` <= 2.5x a bare ContextVar set+reset; a
`@conversation`-decorated call's overhead <= 2x that floor; a `trace()`d call's added cost
<= 2 us.  Run: `.venv/bin/python benchmarks/bench_context.py`.
"""

from __future__ import annotations

import contextvars

from _timing import compare, report

import convtrack as ct

VAR: contextvars.ContextVar[object] = contextvars.ContextVar("bench", default=None)
VALUE = object()


def bare_set_reset(n: int) -> None:
    for _ in range(n):
        token = VAR.set(VALUE)
        VAR.reset(token)


def enter_conversation(n: int) -> None:
    conversation = ct.conversation
    for _ in range(n):
        with conversation("conv-42"):
            pass


def enter_conversation_with_user(n: int) -> None:
    conversation = ct.conversation
    for _ in range(n):
        with conversation("conv-42", user_id="user-alice"):
            pass


def plain(x: int) -> int:
    return x


decorated = ct.conversation(conversation_id="session-123")(plain)


def call_plain(n: int) -> None:
    for i in range(n):
        plain(i)


def call_decorated(n: int) -> None:
    for i in range(n):
        decorated(i)


traced = ct.trace()(plain)


def call_traced(n: int) -> None:
    for i in range(n):
        traced(i)


class NullSink:
    """Takes runs and does nothing: measures convtrack, not a sink."""

    def export(self, runs: object) -> None:
        pass

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self) -> None:
        pass


def main() -> None:
    m = compare(
        {
            "bare ContextVar set+reset": bare_set_reset,
            'with conversation("conv-42")': enter_conversation,
            'with conversation("conv-42", user_id=...)': enter_conversation_with_user,
            "plain call": call_plain,
            "@conversation call": call_decorated,
        }
    )
    report("entering a conversation (median per iteration)", m, "bare ContextVar set+reset")
    floor = m["bare ContextVar set+reset"]
    overhead = m["@conversation call"] - m["plain call"]
    print(
        f"  @conversation overhead: {overhead:.1f} ns = {overhead / floor:.2f}x the set+reset floor"
    )

    ct.configure([NullSink()], grouping=False, capture_content=True)
    with ct.conversation("bench"):
        t = compare({"plain call": call_plain, "@trace() call (configured)": call_traced})
    ct.shutdown()
    added = t["@trace() call (configured)"] - t["plain call"]
    report("a traced call, pipeline configured with a no-op sink", t, "plain call")
    print(f"  trace() added cost: {added / 1000:.2f} us per call")
    off = compare({"plain call": call_plain, "@trace() call (not configured)": call_traced})
    report("a traced call, convtrack not configured", off, "plain call")


if __name__ == "__main__":
    main()
