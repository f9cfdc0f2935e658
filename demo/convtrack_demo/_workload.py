"""The demo's main workload: a scripted, offline support chat written to a SQLite store."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import convtrack
from convtrack import (
    ConversationSummary,
    SQLiteSink,
    conversation,
    new_conversation_id,
    reset,
    set_conversation_id,
    trace,
)

_SCRIPTS = {
    "user-alice": [
        ["Hi, my order #12345 has not arrived.", "I never got a tracking number.", "Thanks!"],
        ["Can I change my delivery address?", "It's 12 Rue de la Paix, Paris."],
    ],
    "user-bob": [
        ["What is your refund policy?", "And for opened items?", "OK, start a refund for #777."],
    ],
    "user-carol": [
        ["Do you ship to Canada?", "How long does it take?"],
    ],
}
_FAQ = {
    "order": "Order #12345 shipped yesterday; tracking 1Z999AA1234567890.",
    "refund": "Refunds are accepted within 30 days; opened items get store credit.",
    "ship": "We ship to Canada in 5-7 business days.",
    "address": "Addresses can be changed until the parcel leaves the warehouse.",
}


@dataclass
class ChatSession:
    """One chat window of the demo app (what a web framework would keep per session)."""

    user_id: str
    conversation_id: str = field(default_factory=new_conversation_id)
    history: list[dict[str, str]] = field(default_factory=list)


@trace(kind="retriever")
def retrieve(question: str) -> list[str]:
    """Find the FAQ entries that mention a word of the question."""
    words = question.lower()
    return [text for key, text in _FAQ.items() if key in words] or [_FAQ["order"]]


@trace(kind="tool")
def lookup_order(order_id: str) -> dict[str, str]:
    """A tool call: the order's status."""
    return {"order_id": order_id, "status": "shipped"}


def fake_model(messages: list[dict[str, str]], context: list[str], rng: random.Random) -> str:
    """A deterministic stand-in for a chat model."""
    question = messages[-1]["content"]
    with trace("chat.completions", kind="llm") as run:
        run.set_input({"messages": [dict(m) for m in messages]})
        answer = f"{context[0]} (you asked: {question!r})"
        prompt_tokens = sum(len(m["content"].split()) for m in messages) + 12
        run.set_usage(
            {
                "input_tokens": prompt_tokens,
                "output_tokens": len(answer.split()) + rng.randint(0, 5),
            },
            model="demo-model-1",
        )
        run.set_output({"role": "assistant", "content": answer})
    return answer


@conversation(conversation_id=lambda session, text, rng: session.conversation_id)
def handle_turn(session: ChatSession, text: str, rng: random.Random) -> str:
    """The app's chat handler: one user turn, inside the session's conversation."""
    with trace("support-turn", kind="chain") as turn:
        session.history.append({"role": "user", "content": text})
        context = retrieve(text)
        if "#" in text:
            lookup_order(text.split("#", 1)[1].split(maxsplit=1)[0].strip(".,!?"))
        answer = fake_model(session.history, context, rng)
        session.history.append({"role": "assistant", "content": answer})
        turn.set_output(answer)
    return answer


def nightly_summary(session: ChatSession) -> None:
    """A background job that joins an existing conversation with set_conversation_id()."""
    token = set_conversation_id(session.conversation_id, user_id=session.user_id)
    try:
        with trace("summarise-conversation", kind="chain") as run:
            run.set_output(f"{len(session.history) // 2} turns")
    finally:
        reset(token)


def _optional_parts(db_path: str) -> list[Callable[[], list[str]]]:
    """The demo's parts that use integrations; each returns [] when its integration is missing."""
    from ._asgi_part import run_asgi_part
    from ._langchain_part import run_langchain_part
    from ._llm_part import run_llm_part

    return [run_asgi_part, lambda: run_llm_part(db_path), lambda: run_langchain_part(db_path)]


def run_demo(db_path: str) -> list[ConversationSummary]:
    """Record the demo workload into `db_path` and return its conversations, newest first."""
    rng = random.Random(42)
    sink = SQLiteSink(db_path)
    convtrack.configure([sink])
    sessions: list[ChatSession] = []
    try:
        for user_id, chats in _SCRIPTS.items():
            for turns in chats:
                session = ChatSession(user_id)
                sessions.append(session)
                with conversation(user_id=user_id):  # the user is inherited by the decorator
                    for text in turns:
                        handle_turn(session, text, rng)
        nightly_summary(sessions[0])
        ids = {s.conversation_id for s in sessions}
        for part in _optional_parts(db_path):
            ids.update(part())
        convtrack.flush(10.0)
        found = [s for s in sink.conversations(limit=None) if s.conversation_id in ids]
    finally:
        convtrack.shutdown(10.0)
    return found
