"""instrument(): every agent run gets a ConversationCapability (`Agent.iter`'s `capabilities`).

`run`, `run_sync`, `run_stream` and `iter` itself all start a run through `Agent.iter`,
which takes capabilities added for one run; the wrapper adds convtrack's there, unless the
run already has one. The agent, its configuration and the caller's arguments are unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from convtrack.instrumentation import Instrumentor, Target, is_recording, report

from ._capability import ConversationCapability

_NAMED = ConversationCapability(named=True)
_MADE_UP = ConversationCapability(named=False)
NEW_CONVERSATION = "new"  # pydantic-ai's `conversation_id` that asks for a fresh one


def names_conversation(kwargs: Mapping[str, Any]) -> bool:
    """Whether a run's arguments name its conversation (else pydantic-ai makes one up)."""
    given = kwargs.get("conversation_id")
    if given is not None:
        return bool(given != NEW_CONVERSATION)
    if kwargs.get("conversation") is not None:
        return True
    history = kwargs.get("message_history") or ()
    return any(getattr(message, "conversation_id", None) for message in history)


def _iter(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if not is_recording():
        return wrapped(*args, **kwargs)
    try:
        given = list(kwargs.get("capabilities") or ())
        if not any(isinstance(each, ConversationCapability) for each in given):
            ours = _NAMED if names_conversation(kwargs) else _MADE_UP
            kwargs = {**kwargs, "capabilities": [*given, ours]}
    except Exception as exc:
        report("pydantic-ai: adding the capability", exc)
    return wrapped(*args, **kwargs)  # the user's call, outside our guard


class PydanticAIInstrumentor(Instrumentor):
    """Records every pydantic-ai agent run and tool call (`Agent.iter`)."""

    library = "pydantic_ai"

    def targets(self) -> list[Target]:
        """`Agent.iter`, which every way of running an agent goes through."""
        return [("pydantic_ai.agent", "Agent", "iter", _iter)]


_instrumentor = PydanticAIInstrumentor()
instrument = _instrumentor.instrument
uninstrument = _instrumentor.uninstrument
is_instrumented = _instrumentor.is_instrumented
