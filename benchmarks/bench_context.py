"""Entering a conversation, a decorated call and a traced call, against same-run baselines.

Goals (issue 2): `with conversation("id")` <= 2.5x a bare ContextVar set+reset; a
`@conversation`-decorated call's overhead <= 2x that floor; a `trace()`d call's added cost
<= 2 us where an OpenTelemetry SDK span costs 9-12 us (so: <= 0.19x the cost of an SDK span
measured in the same run, since this machine runs slower than that one).
Run: `.venv/bin/python benchmarks/bench_context.py`.

The set+reset floor sets convtrack's own ContextVar: what a set costs depends on where the
variable falls in the context's hash trie (8 unrelated variables are set, as in a real app), so
timing another variable would add a per-process layout difference to the ratio.
"""

from __future__ import annotations

import contextvars

from _timing import compare, report
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import TracerProvider

import convtrack as ct
from convtrack._context import _CURRENT

VAR: contextvars.ContextVar[object] = _CURRENT  # type: ignore[assignment]
VALUE = None
TRACER = TracerProvider().get_tracer("bench")


def bare_set_reset(n: int) -> None:
    for _ in range(n):
        token = VAR.set(VALUE)
        VAR.reset(token)


def enter_conversation(n: int) -> None:
    conversation = ct.conversation
    for _ in range(n):
        with conversation("conv-42"):
            pass


class EmptyScope:
    """Reference: the emptiest class context manager taking conversation()'s arguments."""

    __slots__ = ("_token",)

    def __init__(self, conversation_id: object = None, *, user_id: object = None) -> None:
        pass

    def __enter__(self) -> None:
        self._token = VAR.set(VALUE)

    def __exit__(self, *exc: object) -> None:
        VAR.reset(self._token)


def enter_empty_scope(n: int) -> None:
    for _ in range(n):
        with EmptyScope("conv-42"):
            pass


SCOPE = ct.conversation("conv-42")


def enter_prebuilt_scope(n: int) -> None:
    scope = SCOPE
    for _ in range(n):
        with scope:
            pass


def enter_conversation_with_user(n: int) -> None:
    conversation = ct.conversation
    for _ in range(n):
        with conversation("conv-42", user_id="user-alice"):
            pass


def set_and_reset(n: int) -> None:
    set_id, reset = ct.set_conversation_id, ct.reset
    for _ in range(n):
        token = set_id("conv-42")
        reset(token)


def otel_attach_detach(n: int) -> None:
    """What Traceloop's `set_conversation_id()` does (`attach(set_value(...))`), then detach."""
    for _ in range(n):
        token = otel_context.attach(otel_context.set_value("conversation_id", "conv-42"))
        otel_context.detach(token)


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


def call_in_span(n: int) -> None:
    start = TRACER.start_as_current_span
    for i in range(n):
        with start("step"):
            plain(i)


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
            "with scope (a conversation() built once)": enter_prebuilt_scope,
            "(ref: with EmptyScope(...), a bare class CM)": enter_empty_scope,
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

    sets = compare(
        {
            "(ref: Traceloop's way: OTel attach(set_value()) + detach)": otel_attach_detach,
            "set_conversation_id() + reset(token)": set_and_reset,
        }
    )
    report(
        "setting the conversation without a scope",
        sets,
        "(ref: Traceloop's way: OTel attach(set_value()) + detach)",
    )

    ct.configure([NullSink()], grouping=False, capture_content=True)
    with ct.conversation("bench"):
        t = compare(
            {
                "plain call": call_plain,
                "@trace() call (configured)": call_traced,
                "(ref: the call in an OTel SDK span)": call_in_span,
            }
        )
    ct.shutdown()
    added = t["@trace() call (configured)"] - t["plain call"]
    span = t["(ref: the call in an OTel SDK span)"] - t["plain call"]
    report("a traced call, pipeline configured with a no-op sink", t, "plain call")
    print(
        f"  trace() added cost: {added / 1000:.2f} us per call (building the Run included)"
        f" = {added / span:.3f}x an SDK span ({span / 1000:.2f} us); goal <= 0.25x"
    )
    off = compare({"plain call": call_plain, "@trace() call (not configured)": call_traced})
    report("a traced call, convtrack not configured", off, "plain call")


if __name__ == "__main__":
    main()
