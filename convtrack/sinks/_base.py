"""The Sink protocol: where finished runs go."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .._runs import Run


@runtime_checkable
class Sink(Protocol):
    """Receives finished runs in batches, from convtrack's one background thread."""

    def export(self, runs: Sequence[Run]) -> None:
        """Take a batch of runs (emission order). May raise: the dispatcher logs and counts."""

    def flush(self, timeout: float | None = None) -> bool:
        """Make exported runs durable/visible; return False if that did not finish in time."""

    def close(self) -> None:
        """Release resources; the sink is not used afterwards."""
