"""convtrack-langchain: LangChain and LangGraph runs grouped into conversations.

Either observe every run, in every thread and task::

    import convtrack_langchain
    convtrack_langchain.instrument()          # or convtrack.instrument("langchain")

or pass the handler to the runs you choose::

    from convtrack_langchain import ConversationCallbackHandler
    chain.invoke(question, config={"callbacks": [ConversationCallbackHandler()],
                                   "metadata": {"thread_id": "thread-42"}})

A run's conversation comes from its metadata (`conversation_id`, `thread_id`,
`session_id`), else the convtrack conversation it runs in, else its chat messages.
"""

from __future__ import annotations

from convtrack.instrumentation import missing_dependency as _missing_dependency

try:
    import langchain_core  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a test with langchain-core hidden
    raise _missing_dependency(
        "convtrack_langchain", "langchain-core", "convtrack-langchain"
    ) from exc

from ._handler import ConversationCallbackHandler
from ._instrument import instrument, instrumented_handler, is_instrumented, uninstrument

__version__ = "0.1.0"

__all__ = [
    "ConversationCallbackHandler",
    "instrument",
    "instrumented_handler",
    "is_instrumented",
    "uninstrument",
]
