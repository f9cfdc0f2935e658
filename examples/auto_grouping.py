"""Automatic grouping: three interleaved chats, sent without any id, become three conversations.

Each chat resends its whole history on every turn, as chat-completion APIs require.
The grouper decides the conversation before each (fake) model call and remembers
the answered history after it. Runs offline: ``python examples/auto_grouping.py``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from convtrack.grouping import ConversationGrouper

SYSTEM = {"role": "system", "content": "You are a helpful travel assistant."}
CHATS = {
    "ana": [
        "I want to visit Porto in May.",
        "Which neighbourhood should I stay in?",
        "And a good day trip?",
    ],
    "ben": ["Is Kyoto crowded in April?", "What about early November?"],
    "caro": [
        "Cheapest way from Paris to Berlin?",
        "How long does the night train take?",
        "Can I bring a bike?",
        "Thanks!",
    ],
}


def fake_model(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Stand-in for a chat-completion call: answers the last user message."""
    return {"role": "assistant", "content": f"(answer to: {messages[-1]['content']})"}


def main() -> None:
    """Interleave the chats turn by turn and print which conversation each call joined."""
    grouper = ConversationGrouper(secret="example-secret")
    histories: dict[str, list[dict[str, Any]]] = {name: [SYSTEM] for name in CHATS}
    conversations: dict[str, list[str]] = defaultdict(list)
    for turn in range(max(len(questions) for questions in CHATS.values())):
        for name, questions in CHATS.items():
            if turn >= len(questions):
                continue
            request = [*histories[name], {"role": "user", "content": questions[turn]}]
            resolution = grouper.resolve(request, agent_id="travel-bot")  # before the call
            answer = fake_model(request)
            grouper.remember(
                [*request, answer], resolution.conversation_id, agent_id="travel-bot"
            )  # after the call
            histories[name] = [*request, answer]
            conversations[resolution.conversation_id].append(name)
            print(
                f"turn {turn + 1} {name:>4}: {resolution.grouping:<12} "
                f"conversation {resolution.conversation_id}"
            )
    print(f"\n{len(conversations)} conversations:")
    for conversation_id, calls in conversations.items():
        print(f"  {conversation_id}: {len(calls)} calls from {sorted(set(calls))}")
    assert len(conversations) == len(CHATS)


if __name__ == "__main__":
    main()
