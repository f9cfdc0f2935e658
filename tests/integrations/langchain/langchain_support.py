"""Real langchain-core runnables for the convtrack-langchain tests: models, retriever, chains."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda, RunnableParallel
from langchain_core.tools import tool

from convtrack import Run

DOCS = [
    Document(page_content="Refunds are accepted within 30 days.", metadata={"topic": "refund"}),
    Document(page_content="We ship to Canada in 5-7 days.", metadata={"topic": "ship"}),
    Document(page_content="Order #12345 shipped yesterday.", metadata={"topic": "order"}),
]


class EchoChat(BaseChatModel):
    """A chat model answering `echo: <last message>`, reporting usage and its model name."""

    reply_prefix: str = "echo"
    report_in_llm_output: bool = False

    @property
    def _llm_type(self) -> str:
        return "echo-chat"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = f"{self.reply_prefix}: {messages[-1].content}"
        if self.report_in_llm_output:  # an older provider: usage in llm_output, OpenAI names
            message = AIMessage(content=text)
            return ChatResult(
                generations=[ChatGeneration(message=message)],
                llm_output={
                    "token_usage": {"prompt_tokens": 7, "completion_tokens": 3},
                    "model_name": "echo-legacy-1",
                },
            )
        message = AIMessage(
            content=text,
            usage_metadata={"input_tokens": len(messages), "output_tokens": 2, "total_tokens": 0},
            response_metadata={"model_name": "echo-1"},
        )
        message.usage_metadata["total_tokens"] = len(messages) + 2  # type: ignore[index]
        return ChatResult(generations=[ChatGeneration(message=message)])


class KeywordRetriever(BaseRetriever):
    """An in-memory retriever: the documents whose topic appears in the query."""

    docs: list[Document] = DOCS

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        words = query.lower()
        return [d for d in self.docs if d.metadata["topic"] in words] or self.docs[:1]


@tool
def lookup_order(order_id: str) -> str:
    """Look up an order's status."""
    return f"order {order_id}: shipped"


def format_docs(docs: Sequence[Document]) -> str:
    """The retrieved documents as one context string."""
    return "\n".join(d.page_content for d in docs)


def rag_chain(model: BaseChatModel | None = None) -> Runnable[dict[str, Any], str]:
    """prompt | chat model | parser, fed by a retriever through a RunnableParallel."""
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Answer from the context.\n{context}"),
            MessagesPlaceholder("history", optional=True),
            ("human", "{question}"),
        ]
    )
    retrieve = RunnableLambda(lambda x: x["question"]) | KeywordRetriever() | format_docs
    inputs = RunnableParallel(
        context=retrieve,
        question=RunnableLambda(lambda x: x["question"]),
        history=RunnableLambda(lambda x: x.get("history", [])),
    )
    return inputs | prompt | (model or EchoChat()) | StrOutputParser()


def chat_chain(model: BaseChatModel | None = None) -> Runnable[dict[str, Any], AIMessage]:
    """A plain chat: fixed system prompt, the history sent back, the new question."""
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "You are a support assistant."),
            MessagesPlaceholder("history", optional=True),
            ("human", "{question}"),
        ]
    )
    return prompt | (model or EchoChat())


def add_one(x: int) -> int:
    """x + 1."""
    return x + 1


def double(x: int) -> int:
    """x * 2."""
    return x * 2


def triple(x: int) -> int:
    """x * 3."""
    return x * 3


def fanout_chain() -> Runnable[int, dict[str, int]]:
    """`inc`, then `double` and `triple` side by side (a RunnableParallel): five runs."""
    both: Runnable[int, dict[str, int]] = RunnableParallel(
        double=RunnableLambda(double), triple=RunnableLambda(triple)
    )
    return RunnableLambda(add_one, name="inc") | both


class EventRecorder(BaseCallbackHandler):
    """Another LangChain handler (as LangSmith's would be): the run ids and metadata it sees."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: dict[UUID, UUID | None] = {}
        self.metadata: dict[UUID, dict[str, Any]] = {}

    def _seen(self, run_id: UUID, parent_run_id: UUID | None, metadata: Any) -> None:
        with self.lock:
            self.started[run_id] = parent_run_id
            self.metadata[run_id] = dict(metadata or {})

    def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> None:
        """Record a chain run."""
        self._seen(kwargs["run_id"], kwargs.get("parent_run_id"), kwargs.get("metadata"))

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        """Record a chat model run."""
        self._seen(kwargs["run_id"], kwargs.get("parent_run_id"), kwargs.get("metadata"))

    def on_tool_start(self, serialized: Any, input_str: str, **kwargs: Any) -> None:
        """Record a tool run."""
        self._seen(kwargs["run_id"], kwargs.get("parent_run_id"), kwargs.get("metadata"))

    def on_retriever_start(self, serialized: Any, query: str, **kwargs: Any) -> None:
        """Record a retriever run."""
        self._seen(kwargs["run_id"], kwargs.get("parent_run_id"), kwargs.get("metadata"))


def check_tree_integrity(runs: Sequence[Run]) -> None:
    """Every parent is a recorded run and every root id is its tree's root."""
    by_id = {run.run_id: run for run in runs}
    assert len(by_id) == len(runs), "a run was recorded twice"
    for run in runs:
        if run.parent_run_id is None:
            assert run.root_run_id == run.run_id
        else:
            assert run.parent_run_id in by_id, f"{run.name}'s parent was not recorded"
            assert run.root_run_id == by_id[run.parent_run_id].root_run_id


def roots(runs: Sequence[Run]) -> list[Run]:
    """The root runs among `runs`."""
    return [run for run in runs if run.parent_run_id is None]
