"""One instrumented LLM call: decide its conversation, record its run, remember its answer.

Generic over the API: an ``Endpoint`` (chat completions, responses, messages) reads the
request and the answer; this module does the rest, the same way for every API. The user's
call is never altered: every step here is guarded and a failure only costs the run.
(The same module ships in convtrack-openai and convtrack-anthropic.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from convtrack._config import is_capturing
from convtrack._guard import report
from convtrack._handle import RunHandle, current_run
from convtrack._resolve import Decision, adecide, decide
from convtrack._runs import RunKind
from convtrack._start import start_run

from .remember import Memory, adrain_deferred, aremember_now, drain_deferred, remember_now

_STREAM_META: Mapping[str, Any] = {"stream": True}
_MAX_DEPTH = 32
_SCALARS = frozenset({str, int, float, bool, type(None)})


class Request(NamedTuple):
    """What a call carries that convtrack uses (read from the SDK method's kwargs)."""

    conversation_id: str | None
    user_id: str | None
    agent_id: str | None
    messages: Sequence[Any] | None  # the history to group by (None: no grouping)
    system: Any
    model: str | None
    stream: bool
    extra: Any = None  # endpoint-specific


class Answer(NamedTuple):
    """What a finished (or abandoned) call answered."""

    outputs: Any  # the assistant message as a plain dict (None when content is not captured)
    tails: Sequence[Sequence[Any]]  # for each alternative answer: the messages it appends
    usage: Mapping[str, Any] | None = None
    model: str | None = None
    response_id: str | None = None
    error: str | None = None  # an error the API reported in the stream itself


class Endpoint:
    """How one API method reads its request and its answer (subclassed per API)."""

    name = "llm"
    source = "llm"
    stream_types: tuple[type, ...] = ()  # the SDK's sync stream class(es)
    async_stream_types: tuple[type, ...] = ()
    answer_types: tuple[type, ...] = ()  # the SDK's response model(s)
    raw_types: tuple[type, ...] = ()  # its raw responses (with_raw/streaming_response)

    def request(self, kwargs: Mapping[str, Any], stream: bool | None) -> Request:
        """Read the request."""
        raise NotImplementedError

    def inputs(self, request: Request, kwargs: Mapping[str, Any]) -> Any:
        """The run's inputs (only called when content is captured)."""
        return {"messages": plain(request.messages)}

    def answer(self, result: Any, capture: bool) -> Answer:
        """Read a complete (non-streamed) response."""
        raise NotImplementedError

    def decode(self, data: Any, item: bool) -> Any:
        """The SDK object a raw body's JSON stands for: a stream item, else the answer."""
        return None

    def accumulator(self) -> Any:
        """A new accumulator of stream items: `observe(item)`, `answer(capture)`, `complete`."""
        raise NotImplementedError

    def memories(self, request: Request, answer: Answer) -> list[Memory]:
        """The histories to remember: the request's messages followed by each answer."""
        if request.messages is None:
            return []
        return [Memory([*request.messages, *tail], request.system) for tail in answer.tails]


class LLMCall:
    """A call being recorded: its endpoint, request, conversation decision and run."""

    __slots__ = ("decision", "endpoint", "nested", "request", "run")

    def __init__(
        self,
        endpoint: Endpoint,
        request: Request,
        decision: Decision,
        run: RunHandle,
        nested: bool = False,
    ) -> None:
        self.endpoint = endpoint
        self.request = request
        self.decision = decision
        self.run = run
        # Made inside another LLM run (a LangChain chat model's, a traced `llm` step's): the
        # same model call, in its conversation; the outer run's integration remembers it.
        self.nested = nested

    def end(
        self, answer: Answer | None, *, error: BaseException | None = None, incomplete: bool = False
    ) -> list[Memory]:
        """End the run; return what to remember (nothing after an error)."""
        metadata: dict[str, Any] = {}
        if answer is None:
            self.run.end(error=error)
            return []
        if answer.response_id:
            metadata["response_id"] = answer.response_id
        if incomplete:
            metadata["incomplete"] = True
        self.run.end(
            outputs=answer.outputs,
            error=error if error is not None else answer.error,
            usage=answer.usage,
            model=answer.model,
            metadata=metadata,
        )
        if error is not None or answer.error is not None or self.nested:
            return []
        return self.endpoint.memories(self.request, answer)

    def fail(self, exc: BaseException) -> None:
        """Record that the call raised `exc` (the caller re-raises it)."""
        try:
            self.end(None, error=exc)
        except Exception as err:
            report(f"{self.endpoint.source}: recording an error", err)

    def complete(self, result: Any) -> None:
        """Record a non-streamed result and remember it."""
        for memory in self._complete(result):
            remember_now(self.decision, memory)

    async def acomplete(self, result: Any) -> None:
        """`complete()` for async calls."""
        for memory in self._complete(result):
            await aremember_now(self.decision, memory)

    def _complete(self, result: Any) -> list[Memory]:
        try:
            if isinstance(result, self.endpoint.answer_types):
                return self.end(self.endpoint.answer(result, is_capturing()))
            self.run.end(metadata={"raw_response": True})  # e.g. parse(to=dict)
        except Exception as exc:
            report(f"{self.endpoint.source}: recording a response", exc)
            self.run.end()
        return []


_LLM = RunKind.LLM


def begin(
    endpoint: Endpoint, kwargs: Mapping[str, Any], stream: bool | None = None
) -> LLMCall | None:
    """Decide the conversation and start the run of a call; None when not recording."""
    try:
        drain_deferred()
        request = endpoint.request(kwargs, stream)
        parent = current_run()
        decision = decide(
            parent=parent,
            conversation_id=request.conversation_id,
            user_id=request.user_id,
            agent_id=request.agent_id,
            messages=request.messages,
            system=request.system,
        )
        return _start(endpoint, request, decision, kwargs, parent)
    except Exception as exc:
        report(f"{endpoint.source}: starting a run", exc)
        return None


async def abegin(
    endpoint: Endpoint, kwargs: Mapping[str, Any], stream: bool | None = None
) -> LLMCall | None:
    """`begin()` for async calls: an async grouping store is awaited."""
    try:
        await adrain_deferred()
        request = endpoint.request(kwargs, stream)
        parent = current_run()
        decision = await adecide(
            parent=parent,
            conversation_id=request.conversation_id,
            user_id=request.user_id,
            agent_id=request.agent_id,
            messages=request.messages,
            system=request.system,
        )
        return _start(endpoint, request, decision, kwargs, parent)
    except Exception as exc:
        report(f"{endpoint.source}: starting a run", exc)
        return None


def _start(
    endpoint: Endpoint,
    request: Request,
    decision: Decision,
    kwargs: Mapping[str, Any],
    parent: RunHandle | None,
) -> LLMCall | None:
    inputs = endpoint.inputs(request, kwargs) if is_capturing() else None
    run = start_run(
        RunKind.LLM,
        endpoint.name,
        source=endpoint.source,
        decision=decision,
        inputs=inputs,
        model=request.model,
        metadata=_STREAM_META if request.stream else None,
        parent=parent,
    )
    if run is None:
        return None
    # inside an LLM run that decided its conversation (a LangChain chat model's), the outer
    # run's integration remembers the turn
    nested = parent is not None and parent.kind is _LLM and parent.conversation_id is not None
    return LLMCall(endpoint, request, decision, run, nested)


# -- plain data for inputs and outputs ----------------------------------------------------


def plain(value: Any, depth: int = 0) -> Any:
    """A JSON-ready copy of request/response data.

    SDK objects are dumped without their None fields; `Omit`/`NotGiven` values are dropped.
    """
    kind = type(value)
    if kind in _SCALARS or depth > _MAX_DEPTH:
        return value
    if kind is list or kind is tuple:
        return [v if type(v) in _SCALARS else plain(v, depth + 1) for v in value]
    if kind is dict or isinstance(value, Mapping):
        return {
            k: v if type(v) in _SCALARS else plain(v, depth + 1)
            for k, v in value.items()
            if type(v) in _SCALARS or not _omitted(v)
        }
    if isinstance(value, (list, tuple)):
        return [plain(v, depth + 1) for v in value]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(exclude_none=True)
    return value


def _omitted(value: Any) -> bool:
    """An SDK `Omit`/`NotGiven` sentinel (a value the caller did not give)."""
    return type(value).__name__ in ("Omit", "NotGiven")


def fields(value: Any) -> Mapping[str, Any]:
    """The fields of an SDK object (pydantic: its `__dict__`) or a mapping, else {}.

    Reading a missing attribute of a pydantic model costs microseconds: read the dict.
    """
    if isinstance(value, Mapping):
        return value
    found = getattr(value, "__dict__", None)
    return found if isinstance(found, Mapping) else {}


def given(value: Any) -> Any:
    """`value`, or None when it is an SDK `Omit`/`NotGiven` sentinel."""
    return None if _omitted(value) else value


def text_or_none(value: Any) -> str | None:
    """A non-empty str, else None."""
    return value if isinstance(value, str) and value else None
