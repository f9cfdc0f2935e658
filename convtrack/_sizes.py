"""What an ended run holds in memory while it waits for the sinks: a cheap estimate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._handle import RunHandle

# What a run costs in memory while queued, beyond its content (its fields, ids, times).
_RUN_BYTES = 600
_ITEMS_SEEN = 32  # items of one container looked at by the estimate


def size_of(run: RunHandle) -> int:
    """A cheap estimate of the memory an ended run holds (its inputs and outputs count)."""
    fields = run.__dict__
    inputs, outputs = fields.get("inputs"), fields.get("outputs")
    if inputs is None and outputs is None:
        return _RUN_BYTES
    return _RUN_BYTES + _estimate(inputs, 4) + _estimate(outputs, 4)


def _estimate(value: Any, depth: int) -> int:
    kind = type(value)
    if kind is str or kind is bytes:
        return len(value)
    if value is None or kind is int or kind is float or kind is bool:
        return 8
    if depth == 0:
        return 64
    if kind is dict or isinstance(value, Mapping):
        values = list(value.values())
    elif kind is list or kind is tuple:
        values = value
    else:
        return 64  # an object: what its repr or JSON will take is not known
    seen = values[:_ITEMS_SEEN]
    total = sum(_estimate(item, depth - 1) for item in seen) + 16 * len(seen)
    if len(values) > len(seen):  # the rest counted like those seen
        total = total * len(values) // len(seen)
    return total
