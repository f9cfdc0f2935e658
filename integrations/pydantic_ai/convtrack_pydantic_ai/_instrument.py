"""instrument(): every agent run gets a ConversationCapability (`Agent.iter`'s `capabilities`).

`run`, `run_sync`, `run_stream` and `iter` itself all start a run through `Agent.iter`,
which takes capabilities added for one run; the wrapper adds convtrack's there, unless the
run already has one. The agent, its configuration and the caller's arguments are unchanged.
"""

from __future__ import annotations

from typing import Any

from convtrack.instrumentation import Instrumentor, Target, is_recording, report

from ._capability import ConversationCapability

_CAPABILITY = ConversationCapability()


def _iter(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if not is_recording():
        return wrapped(*args, **kwargs)
    try:
        given = list(kwargs.get("capabilities") or ())
        if not any(isinstance(each, ConversationCapability) for each in given):
            kwargs = {**kwargs, "capabilities": [*given, _CAPABILITY]}
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
