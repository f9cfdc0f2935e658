"""convtrack for the official OpenAI client: every chat completion and response is a run.

::

    import convtrack
    import convtrack_openai

    convtrack.configure()
    convtrack_openai.instrument()   # or: convtrack.instrument("openai")

After ``instrument()``, ``client.chat.completions.create/parse/stream`` and
``client.responses.create/parse/stream`` (sync and async, streamed or not) record an
``llm`` run in the call's conversation: request ``metadata["conversation_id"]``
(``explicit``), else the convtrack context, else automatic grouping of the messages
(``auto-matched``/``auto-new``); for the Responses API, ``conversation`` and
``previous_response_id`` say which conversation a call continues.
"""

from __future__ import annotations

from convtrack.instrumentation import missing_dependency as _missing_dependency

try:
    import openai  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a test with openai hidden
    raise _missing_dependency("convtrack_openai", "openai", "convtrack-openai") from exc

from convtrack_openai._instrument import (
    OpenAIInstrumentor,
    instrument,
    is_instrumented,
    uninstrument,
)

__version__ = "0.1.0"

__all__ = ["OpenAIInstrumentor", "instrument", "is_instrumented", "uninstrument"]
