"""A LangChain retrieval chain whose runs are grouped by thread into convtrack conversations.

The chain is ``retriever -> prompt | chat model | parser``, with an in-memory retriever and
a small fake chat model (no network, no API key). Two users each have a thread of two
turns; the thread id travels as LangChain run metadata (``thread_id``, as LangGraph's
``configurable.thread_id`` does), so every run of each turn lands in that conversation.
``convtrack_langchain.instrument()`` would do the same without passing the handler.

Run: ``.venv/bin/python examples/langchain_rag.py`` (offline; writes ./langchain_rag.db).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convtrack_langchain import ConversationCallbackHandler
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda, RunnableParallel

import convtrack as ct
from convtrack import Run

DB = "langchain_rag.db"
FAQ = [
    Document(page_content="Refunds are accepted within 30 days of delivery.", id="refund"),
    Document(page_content="Opened items are refunded as store credit.", id="opened"),
    Document(page_content="We ship to Canada in 5-7 business days.", id="ship"),
    Document(page_content="Express shipping to Canada takes 2 days.", id="express"),
]
THREADS = {
    "thread-alice": ["What is your refund policy?", "And for opened items?"],
    "thread-bob": ["Do you ship to Canada?", "Is there express shipping?"],
}


class FaqRetriever(BaseRetriever):
    """An in-memory retriever: the FAQ entries sharing a word with the question."""

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        words = {w.strip("?.,!").lower() for w in query.split() if len(w) > 3}
        found = [d for d in FAQ if words & set(d.page_content.lower().split())]
        return found[:2] or FAQ[:1]


class FaqChatModel(BaseChatModel):
    """A fake chat model: answers with the first line of the context in its system prompt."""

    @property
    def _llm_type(self) -> str:
        return "faq-fake"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        context = str(messages[0].content).split("Context:\n", 1)[-1].splitlines()[0]
        answer = f"{context} (you asked: {messages[-1].content})"
        words_in = sum(len(str(m.content).split()) for m in messages)
        message = AIMessage(
            content=answer,
            usage_metadata={
                "input_tokens": words_in,
                "output_tokens": len(answer.split()),
                "total_tokens": words_in + len(answer.split()),
            },
            response_metadata={"model_name": "faq-fake-1"},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


def question(turn: dict[str, Any]) -> str:
    """The turn's question."""
    return str(turn["question"])


def history(turn: dict[str, Any]) -> list[BaseMessage]:
    """The turn's history (the messages of the previous turns)."""
    return list(turn["history"])


def format_docs(docs: list[Document]) -> str:
    """The retrieved documents as one context text."""
    return "\n".join(d.page_content for d in docs)


def build_chain() -> Runnable[dict[str, Any], str]:
    """question + history -> retrieved context -> prompt -> model -> text."""
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Answer from our FAQ.\nContext:\n{context}"),
            MessagesPlaceholder("history"),
            ("human", "{question}"),
        ]
    )
    gather = RunnableParallel(
        context=RunnableLambda(question) | FaqRetriever() | RunnableLambda(format_docs),
        question=RunnableLambda(question),
        history=RunnableLambda(history),
    )
    return gather | prompt | FaqChatModel() | StrOutputParser()


def print_tree(run: Run, children: dict[str | None, list[Run]], depth: int) -> None:
    """One run (an LLM run with its question and answer), then its children, indented."""
    line = f"{'  ' * depth}{run.kind.value:<9} {run.name}"
    if run.kind.value == "llm":
        question = run.inputs["messages"][-1]["content"]
        line += f"  user: {question!r} -> assistant: {run.outputs['content']!r}"
    print(line)
    for child in children.get(run.run_id, []):
        print_tree(child, children, depth + 1)


def main() -> None:
    """Two threads of two turns each, then the conversations as the store has them."""
    for leftover in Path().glob(DB + "*"):
        leftover.unlink()  # start from an empty store each run
    ct.configure([ct.SQLiteSink(DB)])
    chain = build_chain()
    handler = ConversationCallbackHandler()
    histories: dict[str, list[BaseMessage]] = {thread: [] for thread in THREADS}
    for turn in range(2):
        for thread, questions in THREADS.items():
            question = questions[turn]
            answer = chain.invoke(
                {"question": question, "history": histories[thread]},
                config={"callbacks": [handler], "metadata": {"thread_id": thread}},
            )
            histories[thread] += [HumanMessage(question), AIMessage(answer)]
    ct.shutdown()  # flushes

    store = ct.SQLiteSink(DB)
    for summary in sorted(store.conversations(), key=lambda s: s.conversation_id):
        print(f"{summary.conversation_id}: {summary.run_count} runs, {summary.llm_count} LLM calls")
        runs = store.runs(summary.conversation_id)
        children: dict[str | None, list[Run]] = {}
        for run in sorted(runs, key=lambda r: r.started_at):
            children.setdefault(run.parent_run_id, []).append(run)
        for root in children.get(None, []):
            print_tree(root, children, depth=1)
    store.close()


if __name__ == "__main__":
    main()
