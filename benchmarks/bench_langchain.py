"""Added cost of ConversationCallbackHandler per LangChain chain invocation.

The chain is the usual ``prompt | chat model | parser`` (a fake chat model, no I/O: the
worst case for the ratio, since a real model call takes 100-10,000x longer). Every case
invokes the same chain; the baseline, measured interleaved with each group, passes no
callbacks at all. Cases:

- ``no-op BaseCallbackHandler``: a handler that does nothing: what LangChain itself charges
  for dispatching callbacks to one handler, the floor for any tracer;
- ``LangChain's RunCollector``: langchain-core's own in-memory tracer (a ``BaseTracer``, as
  LangSmith's is), for reference;
- ``handler, thread_id``: the handler recording runs (convtrack configured with a no-op
  sink, content captured), the conversation from ``metadata={"thread_id": ...}``;
- ``handler, auto-grouped``: no id, a short history: automatic grouping decides
  (resolve, then remember the answer) on every call;
- ``instrument(), thread_id``: no callbacks passed, the configure hook adds the handler;
- ``async: ...``: the same with ``ainvoke``; LangChain runs a sync handler that is not
  ``run_inline`` (the no-op one, ours with ``run_inline=False``) in the loop's thread pool;
- ``handler, no content``: ``capture_content=False``;
- ``not configured: ...``: convtrack not configured (nothing is recorded or kept).

Prints the median time per invocation of interleaved rounds and the ratios to the bare
chain of the same group.

Run: ``.venv/bin/python benchmarks/bench_langchain.py [--n 100] [--rounds 21]``
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from typing import Any

from _timing import compare, report
from convtrack_langchain import ConversationCallbackHandler, instrument, uninstrument
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableConfig
from langchain_core.tracers.run_collector import RunCollectorCallbackHandler

import convtrack
from convtrack import Run


class NullSink:
    """A sink that drops every run (measures the recording, not a storage)."""

    def export(self, runs: Sequence[Run]) -> None:
        """Drop the runs."""

    def flush(self, timeout: float | None = None) -> bool:
        """Nothing to flush."""
        return True

    def close(self) -> None:
        """Nothing to close."""


class FixedChat(BaseChatModel):
    """A chat model that answers at once, with token usage (as providers report it)."""

    @property
    def _llm_type(self) -> str:
        return "fixed-chat"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        message = AIMessage(
            content="Parcels ship within two days.",
            usage_metadata={"input_tokens": 40, "output_tokens": 7, "total_tokens": 47},
            response_metadata={"model_name": "fixed-1"},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "You are a support assistant."),
        MessagesPlaceholder("history"),
        ("human", "{question}"),
    ]
)
CHAIN = PROMPT | FixedChat() | StrOutputParser()
HISTORY = [HumanMessage("Hi"), AIMessage("Hello! How can I help?")]


def case(config: RunnableConfig | None, *, fresh_history: bool = False) -> Callable[[int], None]:
    """A loop invoking the chain `n` times with `config`."""

    def loop(n: int) -> None:
        for i in range(n):
            # auto-grouping: a new conversation each call, as many users starting chats would
            history = [HumanMessage(f"Hi {i}"), HISTORY[1]] if fresh_history else HISTORY
            CHAIN.invoke({"question": "When will it ship?", "history": history}, config)

    return loop


def acase(config: RunnableConfig | None) -> Callable[[int], None]:
    """A loop awaiting `ainvoke` of the chain `n` times with `config` (one event loop)."""

    async def invoke_all(n: int) -> None:
        for _ in range(n):
            await CHAIN.ainvoke({"question": "When will it ship?", "history": HISTORY}, config)

    def loop(n: int) -> None:
        asyncio.run(invoke_all(n))

    return loop


def instrumented(loop: Callable[[int], None]) -> Callable[[int], None]:
    """`loop` with instrument() on (off again after, so that the bare case stays bare)."""

    def run(n: int) -> None:
        instrument()
        try:
            loop(n)
        finally:
            uninstrument()

    return run


def group(
    title: str, cases: dict[str, Callable[[int], None]], args: argparse.Namespace
) -> dict[str, float]:
    """Measure `cases` interleaved with the bare chain; print medians and ratios to it."""
    medians = compare({BARE: case(None), **cases}, n=args.n, rounds=args.rounds)
    report(title, medians, BARE)
    return {name: value / medians[BARE] for name, value in medians.items() if name != BARE}


BARE = "bare chain (no callbacks)"


def main(argv: list[str] | None = None) -> None:
    """Measure each case against the bare chain and print the ratios."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="invocations per round")
    parser.add_argument("--rounds", type=int, default=21, help="interleaved rounds")
    args = parser.parse_args(argv)
    handler = ConversationCallbackHandler()
    with_id: RunnableConfig = {"callbacks": [handler], "metadata": {"thread_id": "t-1"}}
    ratios: dict[str, float] = {}
    convtrack.configure([NullSink()], export_interval=0.2)
    try:
        ratios |= group(
            "convtrack configured (no-op sink, content captured)",
            {
                "no-op BaseCallbackHandler": case({"callbacks": [BaseCallbackHandler()]}),
                "LangChain's RunCollector (a tracer)": case(
                    {"callbacks": [RunCollectorCallbackHandler()]}
                ),
                "handler, thread_id": case(with_id),
                "handler, auto-grouped": case({"callbacks": [handler]}, fresh_history=True),
                "instrument(), thread_id": instrumented(case({"metadata": {"thread_id": "t"}})),
            },
            args,
        )
        ratios |= group(
            "convtrack configured, ainvoke",
            {
                "async: no-op BaseCallbackHandler": acase({"callbacks": [BaseCallbackHandler()]}),
                "async: handler, thread_id": acase(with_id),
                "async: handler, run_inline=False": acase(
                    {
                        "callbacks": [ConversationCallbackHandler(run_inline=False)],
                        "metadata": {"thread_id": "t-1"},
                    }
                ),
            },
            args,
        )
        convtrack.configure([NullSink()], capture_content=False, export_interval=0.2)
        ratios |= group(
            "convtrack configured, capture_content=False",
            {"handler, no content": case(with_id)},
            args,
        )
    finally:
        convtrack.shutdown()
    ratios |= group(
        "convtrack not configured",
        {
            "not configured: no-op handler": case({"callbacks": [BaseCallbackHandler()]}),
            "not configured: handler": case(with_id),
        },
        args,
    )
    assert handler.open_runs == 0
    print(f"\nmedian ratios to the bare chain (Python {sys.version.split()[0]}):")
    for name, ratio in ratios.items():
        print(f"  {name:<40} {ratio:5.2f}x")


if __name__ == "__main__":
    main()
