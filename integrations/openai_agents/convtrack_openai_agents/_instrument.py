"""instrument(): the Runner's wrappers on, and one ConversationTracingProcessor registered."""

from __future__ import annotations

import threading

from convtrack.instrumentation import Instrumentor, Target

from . import _runner
from ._processor import ConversationTracingProcessor

_lock = threading.Lock()
_processor: ConversationTracingProcessor | None = None


def processor() -> ConversationTracingProcessor:
    """The processor `instrument()` registers (once per process: the SDK cannot remove one).

    It records only while the integration is instrumented.
    """
    global _processor
    with _lock:
        if _processor is None:
            import agents

            _processor = ConversationTracingProcessor(enabled=_instrumentor.is_instrumented())
            agents.add_trace_processor(_processor)
        return _processor


class OpenAIAgentsInstrumentor(Instrumentor):
    """Records the Agents SDK's runs: the Runner's conversation ids and its trace's spans."""

    library = "agents"

    def targets(self) -> list[Target]:
        """`AgentRunner.run` (`Runner.run`, `run_sync`) and `run_streamed`."""
        return [
            ("agents.run", "AgentRunner", "run", _runner.run),
            ("agents.run", "AgentRunner", "run_streamed", _runner.run_streamed),
        ]

    def _on_instrument(self) -> None:
        processor().enabled = True

    def _on_uninstrument(self) -> None:
        processor().enabled = False


_instrumentor = OpenAIAgentsInstrumentor()
instrument = _instrumentor.instrument
uninstrument = _instrumentor.uninstrument
is_instrumented = _instrumentor.is_instrumented
