"""The demo's LangChain part: a retrieval chain and a chat observed by convtrack-langchain.

Runs while the demo's pipeline is configured, if convtrack-langchain is installed: two users'
threads through a retrieval chain (``thread_id`` run metadata names each conversation), and
one chat that carries no id at all, grouped automatically from the history it sends back.
LangChain is imported only here, only when the part runs.
"""

from __future__ import annotations

from typing import Any

import convtrack
from convtrack import SQLiteSink, reset, set_user_id

_FAQ = {
    "refund": "Refunds are accepted within 30 days; opened items get store credit.",
    "ship": "We ship to Canada in 5-7 business days; express takes 2 days.",
    "order": "Order #12345 shipped yesterday; tracking 1Z999AA1234567890.",
    "warranty": "Every product has a two-year warranty.",
}
_THREADS = {
    ("user-frank", "lc-thread-frank"): ["What is your refund policy?", "Even for opened items?"],
    ("user-gina", "lc-thread-gina"): ["Do you ship to Canada?", "How long does shipping take?"],
}
_AUTO_USER = "user-hugo"
_AUTO_CHAT = ["Hi! Is there a warranty?", "How long is it?", "Thanks, bye."]


def run_langchain_part(db_path: str) -> list[str]:
    """Drive the LangChain chains (if convtrack-langchain is installed); return the ids made.

    convtrack must be configured, writing to the SQLite store `db_path`.
    """
    try:
        from convtrack_langchain import ConversationCallbackHandler
    except ImportError:
        return []
    handler = ConversationCallbackHandler()
    rag, chat = _chains()
    ids: list[str] = []
    for (user_id, thread_id), questions in _THREADS.items():
        _chat(
            rag, questions, user_id, {"callbacks": [handler], "metadata": {"thread_id": thread_id}}
        )
        ids.append(thread_id)
    _chat(chat, _AUTO_CHAT, _AUTO_USER, {"callbacks": [handler]})  # no id: grouped by history
    return ids + _conversations_of(db_path, _AUTO_USER)


def _chat(chain: Any, questions: list[str], user_id: str, config: dict[str, Any]) -> None:
    """One chat: each turn sends the history back, as chat apps do."""
    from langchain_core.messages import AIMessage, HumanMessage

    history: list[Any] = []
    token = set_user_id(user_id)
    try:
        for question in questions:
            answer = chain.invoke({"question": question, "history": history}, config)
            history += [HumanMessage(question), AIMessage(answer)]
    finally:
        reset(token)


def _conversations_of(db_path: str, user_id: str) -> list[str]:
    """The conversations the store `db_path` holds for `user_id` (after a flush)."""
    convtrack.flush(10.0)
    store = SQLiteSink(db_path, create=False)
    try:
        return [c.conversation_id for c in store.conversations(None, user_id=user_id)]
    finally:
        store.close()


def _chains() -> tuple[Any, Any]:
    """(retrieval chain, plain chat chain): prompt | fake chat model | parser, both."""
    from langchain_core.documents import Document
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, BaseMessage
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.runnables import RunnableLambda, RunnableParallel

    class DemoChatModel(BaseChatModel):
        """A deterministic chat model: quotes the FAQ entry its conversation is about."""

        @property
        def _llm_type(self) -> str:
            return "demo-chat"

        def _generate(
            self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
        ) -> ChatResult:
            text = " ".join(str(m.content) for m in messages).lower()
            fact = next((f for key, f in _FAQ.items() if key in text), _FAQ["order"])
            answer = f"{fact} (you asked: {messages[-1].content})"
            words = len(text.split())
            usage = {"input_tokens": words, "output_tokens": len(answer.split())}
            usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
            message = AIMessage(
                content=answer,
                usage_metadata=usage,
                response_metadata={"model_name": "demo-model-1"},
            )
            return ChatResult(generations=[ChatGeneration(message=message)])

    class FaqRetriever(BaseRetriever):
        """An in-memory retriever: the FAQ entries named in the question."""

        def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
            words = query.lower()
            return [Document(page_content=f, id=k) for k, f in _FAQ.items() if k in words]

    def history_prompt(system: str) -> ChatPromptTemplate:
        return ChatPromptTemplate.from_messages(
            [("system", system), MessagesPlaceholder("history"), ("human", "{question}")]
        )

    def question(turn: dict[str, Any]) -> str:
        return str(turn["question"])

    def history(turn: dict[str, Any]) -> list[BaseMessage]:
        return list(turn["history"])

    def format_docs(docs: list[Document]) -> str:
        return "\n".join(d.page_content for d in docs)

    gather = RunnableParallel(
        context=RunnableLambda(question) | FaqRetriever() | RunnableLambda(format_docs),
        question=RunnableLambda(question),
        history=RunnableLambda(history),
    )
    model = DemoChatModel()
    rag = gather | history_prompt("Answer from the FAQ:\n{context}") | model | StrOutputParser()
    chat = history_prompt("You are ACME's support assistant.") | model | StrOutputParser()
    return rag, chat
