"""ConversationCallbackHandler: LangChain runs recorded as convtrack runs, by conversation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from convtrack.instrumentation import RunHandle, RunKind, is_capturing, is_recording, report

from . import _convert as convert
from ._nest import nest_model_calls
from ._recorder import end, end_llm, start
from ._state import RunOwner, RunTable


class ConversationCallbackHandler(BaseCallbackHandler, RunOwner):
    """Records LangChain chain, chat model, LLM, tool and retriever runs as convtrack runs.

    Pass it in a run's config (``chain.invoke(x, config={"callbacks": [handler]})``), or call
    `convtrack_langchain.instrument()` to have every run observed without passing it.

    Runs keep LangChain's run ids and parents. While a chat model runs, its run is convtrack's
    current run: an instrumented SDK call the model makes (``ChatOpenAI`` calling ``openai``)
    is recorded as its child, in its conversation. Each invocation's conversation is decided once,
    when its root run starts: run metadata ``conversation_id``, ``thread_id`` or
    ``session_id`` (``explicit``), else the convtrack conversation current then
    (``context``), else the chat model's messages (automatic grouping); children take it.

    The handler is safe to share between threads and tasks; its own failures are logged by
    convtrack and never reach the chain. It keeps at most `max_open_runs` unfinished runs.

    Args:
        max_open_runs: how many started, not yet ended runs to keep track of (the oldest are
            forgotten beyond that, so runs that never end cannot grow memory without bound).
        run_inline: in async chains, run the callbacks on the event loop (as LangSmith's
            tracer does) rather than in the loop's thread pool, which costs a thread hop per
            event. Pass False if you also use a callback handler that is not inline with
            async text-completion LLMs: langchain-core then skips its ``on_llm_start``
            (langchain-ai/langchain#39633).
    """

    raise_error = False

    def __init__(self, *, max_open_runs: int = 10_000, run_inline: bool = True) -> None:
        super().__init__()
        self.run_inline = run_inline
        self._table = RunTable(max_open_runs)
        nest_model_calls()

    @property
    def open_runs(self) -> int:
        """How many started runs have not ended yet (bounded by `max_open_runs`)."""
        return len(self._table)

    @property
    def ignore_retry(self) -> bool:
        """Retries are not runs: not observed."""
        return True

    @property
    def ignore_custom_event(self) -> bool:
        """Custom events are not runs: not observed."""
        return True

    def _open_run(self, run_id: UUID) -> RunHandle | None:
        """The convtrack run of an open LangChain run (None when unknown or forgotten)."""
        entry = self._table.get(run_id)
        return None if entry is None else entry.run

    def __copy__(self) -> ConversationCallbackHandler:
        return self  # one handler, one table of open runs, however configs are copied

    def __deepcopy__(self, memo: dict[int, Any]) -> ConversationCallbackHandler:
        return self

    # -- starting runs ----------------------------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any],
        inputs: dict[str, Any],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start a chain run (prompts and output parsers included)."""
        if not is_recording():
            return
        try:
            start(
                self._table,
                RunKind.CHAIN,
                convert.run_name(serialized, kwargs, "chain"),
                run_id,
                parent_run_id,
                convert.plain(inputs) if is_capturing() else None,
                metadata,
                tags,
                run_type=kwargs.get("run_type"),
            )
        except Exception as exc:
            report("langchain: on_chain_start", exc)

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start a chat model run (its messages may group the conversation automatically)."""
        if not is_recording():
            return
        nest_model_calls()  # again, if `uninstrument()` undid it while this handler is in use
        try:
            request = messages[0] if messages else []
            start(
                self._table,
                RunKind.LLM,
                convert.run_name(serialized, kwargs, "chat_model"),
                run_id,
                parent_run_id,
                {"messages": convert.messages(request)} if is_capturing() else None,
                metadata,
                tags,
                messages=request,
                model=convert.request_model(metadata, kwargs.get("invocation_params")),
            )
        except Exception as exc:
            report("langchain: on_chat_model_start", exc)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start a (text completion) LLM run."""
        if not is_recording():
            return
        try:
            inputs = None
            if is_capturing():
                inputs = {"prompt": prompts[0]} if len(prompts) == 1 else {"prompts": prompts}
            start(
                self._table,
                RunKind.LLM,
                convert.run_name(serialized, kwargs, "llm"),
                run_id,
                parent_run_id,
                inputs,
                metadata,
                tags,
                model=convert.request_model(metadata, kwargs.get("invocation_params")),
            )
        except Exception as exc:
            report("langchain: on_llm_start", exc)

    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start a tool run."""
        if not is_recording():
            return
        try:
            recorded = None
            if is_capturing():
                recorded = convert.plain(inputs) if inputs is not None else {"input": input_str}
            start(
                self._table,
                RunKind.TOOL,
                convert.run_name(serialized, kwargs, "tool"),
                run_id,
                parent_run_id,
                recorded,
                metadata,
                tags,
            )
        except Exception as exc:
            report("langchain: on_tool_start", exc)

    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start a retriever run."""
        if not is_recording():
            return
        try:
            start(
                self._table,
                RunKind.RETRIEVER,
                convert.run_name(serialized, kwargs, "retriever"),
                run_id,
                parent_run_id,
                {"query": query} if is_capturing() else None,
                metadata,
                tags,
            )
        except Exception as exc:
            report("langchain: on_retriever_start", exc)

    # -- ending runs --------------------------------------------------------------------------

    def on_chain_end(self, outputs: dict[str, Any], *, run_id: UUID, **kwargs: Any) -> None:
        """End a chain run with its outputs."""
        _end("langchain: on_chain_end", self._table, run_id, outputs, None)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End a chain run with its error (the chain raises it unchanged)."""
        _end("langchain: on_chain_error", self._table, run_id, None, error)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """End a tool run with its output."""
        _end("langchain: on_tool_end", self._table, run_id, output, None)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End a tool run with its error."""
        _end("langchain: on_tool_error", self._table, run_id, None, error)

    def on_retriever_end(
        self, documents: Sequence[Document], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """End a retriever run with the documents found."""
        _end("langchain: on_retriever_end", self._table, run_id, {"documents": documents}, None)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End a retriever run with its error."""
        _end("langchain: on_retriever_error", self._table, run_id, None, error)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End an LLM run with its error."""
        _end("langchain: on_llm_error", self._table, run_id, None, error)

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Note that the model streams (the run's metadata gets `stream: true`)."""
        try:
            entry = self._table.get(run_id)
            if entry is not None:
                entry.streamed = True
        except Exception as exc:
            report("langchain: on_llm_new_token", exc)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """End an LLM run: the answer, token usage, model; remember an auto-grouped history."""
        try:
            end_llm(self._table, run_id, response)
        except Exception as exc:
            report("langchain: on_llm_end", exc)


def _end(
    where: str, table: RunTable, run_id: UUID, outputs: Any, error: BaseException | None
) -> None:
    try:
        end(table, run_id, outputs, error)
    except Exception as exc:
        report(where, exc)
