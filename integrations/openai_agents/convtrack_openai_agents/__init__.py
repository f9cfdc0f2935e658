"""convtrack for the OpenAI Agents SDK: a turn's agent runs, tool calls, handoffs and
guardrails as runs in the app's conversation.

::

    import convtrack
    import convtrack_openai
    import convtrack_openai_agents

    convtrack.configure()
    convtrack_openai.instrument()          # the model calls, with their answers
    convtrack_openai_agents.instrument()   # or: convtrack.instrument("openai_agents")

After ``instrument()``, each ``Runner.run`` / ``run_sync`` / ``run_streamed`` is a ``chain``
run (the SDK's trace) with its agent, tool, handoff and guardrail spans as runs under it;
the model calls recorded by convtrack-openai nest under their agent's run. The run's
conversation is the one the app named: ``conversation_id``, else the ``session``'s id,
else ``RunConfig.group_id`` (``explicit``); otherwise the history the app resends is
grouped automatically, as the model calls are.
"""

from __future__ import annotations

from convtrack.instrumentation import missing_dependency as _missing_dependency

try:
    import agents  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a test with agents hidden
    raise _missing_dependency(
        "convtrack_openai_agents", "openai-agents", "convtrack-openai-agents"
    ) from exc

from convtrack_openai_agents._instrument import (
    OpenAIAgentsInstrumentor,
    instrument,
    is_instrumented,
    processor,
    uninstrument,
)
from convtrack_openai_agents._processor import ConversationTracingProcessor

__version__ = "0.1.0"

__all__ = [
    "ConversationTracingProcessor",
    "OpenAIAgentsInstrumentor",
    "instrument",
    "is_instrumented",
    "processor",
    "uninstrument",
]
