"""convtrack for pydantic-ai: agent runs and tool calls in the conversation pydantic-ai names.

::

    import convtrack
    import convtrack_openai
    import convtrack_pydantic_ai

    convtrack.configure()
    convtrack_openai.instrument()        # the model calls, with their answers
    convtrack_pydantic_ai.instrument()   # or: convtrack.instrument("pydantic_ai")

After ``instrument()``, each agent run (``run``, ``run_sync``, ``run_stream``, ``iter``) is
a ``chain`` run in pydantic-ai's ``conversation_id`` (``explicit``), with its tool calls as
``tool`` runs and the model calls recorded by convtrack-openai nested under it.
"""

from __future__ import annotations

from convtrack.instrumentation import missing_dependency as _missing_dependency

try:
    import pydantic_ai  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a test with pydantic-ai hidden
    raise _missing_dependency(
        "convtrack_pydantic_ai", "pydantic-ai-slim", "convtrack-pydantic-ai"
    ) from exc

from convtrack_pydantic_ai._capability import ConversationCapability
from convtrack_pydantic_ai._instrument import (
    PydanticAIInstrumentor,
    instrument,
    is_instrumented,
    uninstrument,
)

__version__ = "0.1.0"

__all__ = [
    "ConversationCapability",
    "PydanticAIInstrumentor",
    "instrument",
    "is_instrumented",
    "uninstrument",
]
