"""What an ended run holds in memory while it waits for the sinks: a cheap estimate."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any

from ._handle import RunHandle

# What a run costs in memory while queued, beyond its content (its fields, ids, times).
_RUN_BYTES = 600
_ITEMS_SEEN = 32  # items of one container looked at by the estimate


def size_of(run: RunHandle) -> int:
    """A cheap estimate of the memory an ended run holds (its inputs and outputs count)."""
    inputs, outputs = run.inputs, run.outputs
    size = _RUN_BYTES
    if inputs is not None:
        size += _FLAT.get(type(inputs)) or _estimate(inputs, 4)
    if outputs is not None:
        size += _FLAT.get(type(outputs)) or _estimate(outputs, 4)
    return size


def _estimate(value: Any, depth: int) -> int:
    kind = type(value)
    if kind is str or kind is bytes:
        return len(value)
    flat = _FLAT.get(kind)
    if flat is not None:
        return flat
    if depth == 0:
        return 64
    if kind is list or kind is tuple:
        items: Iterable[Any] = value if len(value) <= _ITEMS_SEEN else value[:_ITEMS_SEEN]
    elif kind is dict or isinstance(value, Mapping):
        items = value.values()
        if len(value) > _ITEMS_SEEN:
            items = islice(items, _ITEMS_SEEN)
    else:
        return 64  # an object: what its repr or JSON will take is not known
    total = seen = 0
    for item in items:
        total += _estimate(item, depth - 1) + 16
        seen += 1
    if seen and len(value) > seen:  # the rest counted like those seen
        total = total * len(value) // seen
    return total


_FLAT = {int: 8, float: 8, bool: 8, type(None): 8}
