"""The recorder now in force: the one thing recording code reads about the configuration.

A leaf module: `configure()` fills `current` with the pipeline it starts (its sinks, grouper
and content setting); runs, decisions and integrations only read it. None means convtrack is
not configured, and nothing is recorded at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .grouping import ConversationGrouper


class Recorder(Protocol):
    """What recording code needs of the configured pipeline."""

    grouper: ConversationGrouper | None  # automatic grouping of chat calls, if on
    capture_content: bool  # whether runs keep their inputs and outputs

    def emit(self, run: Any) -> None:
        """Hand an ended run to the sinks (never blocks, never raises)."""

    def emit_event(self, event: Any) -> None:
        """Hand a feedback or conversation-end record to the sinks (never blocks or raises)."""


current: Recorder | None = None


def is_recording() -> bool:
    """Whether convtrack records runs now (`configure()` was called, `shutdown()` was not)."""
    return current is not None


def is_capturing() -> bool:
    """Whether runs record their inputs and outputs now."""
    recorder = current
    return recorder is not None and recorder.capture_content
