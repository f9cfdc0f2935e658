"""Quick start: conversations from the decorator, a scope and set_conversation_id, into SQLite.

Run: `.venv/bin/python examples/quickstart.py` (offline; writes ./quickstart.db).
"""

from __future__ import annotations

import convtrack as ct

DB = "quickstart.db"


@ct.trace(kind="retriever")
def search_docs(question: str) -> list[str]:
    """A step of your own: recorded as a run, child of whatever runs around it."""
    return [f"doc about {word}" for word in question.split()[:2]]


@ct.trace(kind="llm")
def answer(question: str, docs: list[str]) -> str:
    """Stands in for a model call."""
    return f"Based on {len(docs)} documents: yes."


@ct.conversation(conversation_id=lambda session_id, question: session_id)
def handle(session_id: str, question: str) -> str:
    """A chat handler: each call runs inside the session's conversation."""
    with ct.trace("turn", kind="chain"):
        return answer(question, search_docs(question))


def main() -> None:
    ct.configure([ct.SQLiteSink(DB)])

    with ct.conversation(user_id="user-alice"):  # the user is inherited by `handle`
        handle("session-1", "is shipping free")
        handle("session-1", "and returns")

    token = ct.set_conversation_id("session-2", user_id="user-bob")  # no scope needed
    try:
        handle("session-2", "do you ship abroad")
    finally:
        ct.reset(token)

    ct.shutdown()  # flushes; also done at exit

    store = ct.SQLiteSink(DB)
    for summary in store.conversations():
        print(f"{summary.conversation_id}: user {summary.user_id}, {summary.run_count} runs")
        for run in store.runs(summary.conversation_id):
            indent = "  " if run.parent_run_id else ""
            print(f"  {indent}{run.kind.value:<9} {run.name} ({run.duration_ms:.2f} ms)")
    store.close()


if __name__ == "__main__":
    main()
