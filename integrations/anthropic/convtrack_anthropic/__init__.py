"""convtrack for the official Anthropic client: every `messages` call is a run.

::

    import convtrack
    import convtrack_anthropic

    convtrack.configure()
    convtrack_anthropic.instrument()   # or: convtrack.instrument("anthropic")

After ``instrument()``, ``client.messages.create/parse`` and the ``messages.stream()``
helper (sync and async, streamed or not) record an ``llm`` run in the call's
conversation: the convtrack context (``context``), else automatic grouping of the
messages and the ``system`` prompt (``auto-matched``/``auto-new``).
``metadata={"user_id": ...}`` is the run's user.
"""

from __future__ import annotations

from convtrack.instrumentation import missing_dependency as _missing_dependency

try:
    import anthropic  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a test with anthropic hidden
    raise _missing_dependency("convtrack_anthropic", "anthropic", "convtrack-anthropic") from exc

from convtrack_anthropic._instrument import (
    AnthropicInstrumentor,
    instrument,
    is_instrumented,
    uninstrument,
)

__version__ = "0.1.0"

__all__ = ["AnthropicInstrumentor", "instrument", "is_instrumented", "uninstrument"]
