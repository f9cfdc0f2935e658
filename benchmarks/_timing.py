"""Shared timing helpers for the benchmark scripts (medians of interleaved rounds)."""

from __future__ import annotations

import contextvars
import gc
import statistics
import time
from collections.abc import Callable

# A context that already holds a few unrelated ContextVars, like a real app's.
_UNRELATED = [contextvars.ContextVar(f"unrelated_{i}") for i in range(8)]
for _i, _var in enumerate(_UNRELATED):
    _var.set(_i)


def per_call_ns(loop: Callable[[int], None], n: int) -> float:
    """Nanoseconds per iteration of `loop(n)`."""
    start = time.perf_counter_ns()
    loop(n)
    return (time.perf_counter_ns() - start) / n


def compare(
    cases: dict[str, Callable[[int], None]], *, n: int = 20_000, rounds: int = 15
) -> dict[str, float]:
    """Median ns per iteration of each case, rounds interleaved so noise hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for loop in cases.values():  # warm up
        loop(n // 10 or 1)
    gc.disable()
    try:
        for _ in range(rounds):
            for name, loop in cases.items():
                samples[name].append(per_call_ns(loop, n))
    finally:
        gc.enable()
    return {name: statistics.median(values) for name, values in samples.items()}


def report(title: str, medians: dict[str, float], baseline: str) -> None:
    """Print medians and ratios to the baseline."""
    base = medians[baseline]
    print(f"\n{title}")
    for name, value in medians.items():
        print(f"  {name:<58} {value:>10.1f} ns   {value / base:5.2f}x")
