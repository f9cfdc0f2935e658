"""Responses API items group exactly like their Chat Completions twin."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseReasoningItem,
)

from convtrack.grouping import ConversationGrouper, canonical_bytes
from convtrack.grouping._hashing import KeyMaker, history_key, prefix_keys
from convtrack.grouping._items import chat_messages

MAKER = KeyMaker(b"responses-secret")

texts = st.text(min_size=1, max_size=12)
arguments = st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3)
calls = st.lists(st.tuples(st.sampled_from(["lookup", "weather"]), arguments), max_size=2)
# one turn: the user's text, the assistant's text (or None) and its tool calls with results
turns = st.lists(
    st.tuples(texts, st.none() | texts, calls, texts, st.none() | texts), min_size=1, max_size=4
)
# how the Responses history is spelled: SDK objects or dicts, reasoning items, typed inputs
spellings = st.fixed_dictionaries(
    {"objects": st.booleans(), "reasoning": st.booleans(), "typed": st.booleans()}
)


def chat_twin(conversation: list[Any]) -> list[Any]:
    """The Chat Completions history of `conversation`."""
    out: list[Any] = []
    for number, (user, text, tools, result, after) in enumerate(conversation):
        out.append({"role": "user", "content": user})
        message: dict[str, Any] = {"role": "assistant", "content": text}
        ids = [f"call_{number}_{i}" for i in range(len(tools))]
        if tools:
            message["tool_calls"] = [
                {"id": i, "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
                for i, (n, a) in zip(ids, tools, strict=True)
            ]
        out.append(message)
        if tools:
            out += [{"role": "tool", "tool_call_id": i, "content": result} for i in ids]
            if after is not None:
                out.append({"role": "assistant", "content": after})
    return out


def responses_twin(
    conversation: list[Any], objects: bool, reasoning: bool, typed: bool
) -> list[Any]:
    """The same history as Responses input items (as `to_input_list()` or by hand)."""
    out: list[Any] = []

    def item(value: dict[str, Any], model: Any) -> None:
        out.append(model(**value) if objects else value)

    def think(tag: str) -> None:
        if reasoning:
            item({"type": "reasoning", "id": f"rs_{tag}", "summary": []}, ResponseReasoningItem)

    def say(tag: str, text: str) -> None:
        think(tag)
        part = {"type": "output_text", "text": text, "annotations": []}
        message = {"type": "message", "id": f"msg_{tag}", "role": "assistant"}
        item({**message, "status": "completed", "content": [part]}, ResponseOutputMessage)

    for number, (user, text, tools, result, after) in enumerate(conversation):
        if typed:
            parts = [{"type": "input_text", "text": user}]
            out.append({"type": "message", "role": "user", "content": parts})
        else:
            out.append({"role": "user", "content": user})
        if text is not None:
            say(f"{number}", text)
        elif tools:
            think(f"{number}")
        ids = [f"call_{number}_{i}" for i in range(len(tools))]
        for i, (name, args) in zip(ids, tools, strict=True):
            call = {"type": "function_call", "id": f"fc_{i}", "call_id": i, "name": name}
            item(
                {**call, "arguments": json.dumps(args), "status": "completed"},
                ResponseFunctionToolCall,
            )
        if not tools and text is None:  # an empty answer: an empty message item
            say(f"{number}", "")
        if tools:
            out += [{"type": "function_call_output", "call_id": i, "output": result} for i in ids]
            if after is not None:
                say(f"{number}b", after)
    return out


def keys(history: list[Any]) -> tuple[list[str], str | None]:
    """Every prefix key of `history` and its whole-history key."""
    return list(prefix_keys(MAKER, history, None, None, None)), history_key(
        MAKER, history, None, None, None
    )


@settings(max_examples=150, deadline=None)
@given(turns, spellings)
def test_a_responses_history_has_the_keys_of_its_chat_twin(
    conversation: list[Any], spelling: dict[str, bool]
) -> None:
    """chat_messages(items) hashes to exactly the keys of the Chat Completions history."""
    chat = chat_twin(conversation)
    items = responses_twin(conversation, **spelling)
    assert keys(chat_messages(items)) == keys(chat)


@settings(max_examples=50, deadline=None)
@given(turns)
def test_rewriting_chat_messages_is_a_no_op(conversation: list[Any]) -> None:
    """A chat history, or one already rewritten, comes back with the same keys."""
    chat = chat_twin(conversation)
    assert keys(chat_messages(chat)) == keys(chat)
    items = chat_messages(responses_twin(conversation, objects=True, reasoning=True, typed=True))
    assert keys(chat_messages(items)) == keys(items)


def test_a_tool_turn_resent_as_items_continues_the_conversation() -> None:
    """Remembered as output items, resent with the tool's output: the same conversation."""
    grouper = ConversationGrouper()
    first = [{"role": "user", "content": "find x"}]
    first_id = grouper.resolve(chat_messages(first)).conversation_id
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "lookup"}
    call |= {"arguments": '{"q": "x"}', "status": "completed"}
    answer = [{"type": "reasoning", "id": "rs_1", "summary": []}, call]
    grouper.remember(chat_messages([*first, *answer]), first_id)
    # the Agents SDK resends the reasoning item; a hand-written history may not
    for resent in (answer, [call]):
        second = [
            *first,
            *resent,
            {"type": "function_call_output", "call_id": "call_1", "output": "7"},
        ]
        resolution = grouper.resolve(chat_messages(second))
        assert (resolution.conversation_id, resolution.grouping) == (first_id, "auto-matched")
        grouper.remember(chat_messages([*first, *answer]), first_id)


def test_single_items_are_the_messages_they_stand_for() -> None:
    """A function_call is an assistant tool call; its output a tool message."""
    call = {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"a": 1}'}
    assert canonical_bytes(call) == canonical_bytes(
        {
            "role": "assistant",
            "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": {"a": 1}}}],
        }
    )
    assert canonical_bytes(ResponseFunctionToolCall(**call)) == canonical_bytes(call)
    output = {"type": "function_call_output", "call_id": "c1", "output": "42"}
    assert canonical_bytes(output) == canonical_bytes(
        {"role": "tool", "tool_call_id": "c1", "content": "42"}
    )


def test_built_in_tool_calls_and_their_outputs() -> None:
    """Built-in tool calls are tool calls named by their type; custom tools like chat's."""
    search = {"type": "web_search_call", "id": "ws_1", "status": "completed"}
    search["action"] = {"type": "search", "query": "q"}
    custom = {"type": "custom_tool_call", "call_id": "ct_1", "name": "grep", "input": "x"}
    computer = {"type": "computer_call_output", "call_id": "cc_1", "output": {"type": "x"}}
    assert chat_messages([{"role": "user", "content": "go"}, search, custom, computer]) == [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "ws_1",
                    "name": "web_search_call",
                    "arguments": {"action": search["action"]},
                },
                {"id": "ct_1", "name": "grep", "arguments": "x"},
            ],
        },
        {"role": "tool", "tool_call_id": "cc_1", "content": {"type": "x"}},
    ]
    chat_custom = {"id": "ct_1", "type": "custom", "custom": {"name": "grep", "input": "x"}}
    assert canonical_bytes({"role": "assistant", "tool_calls": [chat_custom]}) == canonical_bytes(
        {"role": "assistant", "tool_calls": [{"id": "ct_1", "name": "grep", "arguments": "x"}]}
    )


def test_image_and_refusal_parts_take_their_chat_spelling() -> None:
    """input_image parts are image_url parts; a refusal part is the message's refusal."""
    image = {"type": "input_image", "image_url": "https://x/a.png", "detail": "auto"}
    user = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "see"}, image],
    }
    chat_user = {
        "role": "user",
        "content": [
            {"type": "text", "text": "see"},
            {"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "auto"}},
        ],
    }
    refused = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "refusal", "refusal": "no"}],
    }
    chat_refused = {"role": "assistant", "content": None, "refusal": "no"}
    assert [canonical_bytes(m) for m in chat_messages([user, refused])] == [
        canonical_bytes(chat_user),
        canonical_bytes(chat_refused),
    ]
