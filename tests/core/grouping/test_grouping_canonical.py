"""Canonicalisation: what means the same hashes the same, whatever its shape."""

from __future__ import annotations

import json
from typing import Any

import anthropic.types as anth
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from openai.types.chat import ChatCompletionMessage
from openai.types.chat.chat_completion_message_function_tool_call import (
    ChatCompletionMessageFunctionToolCall,
    Function,
)

from convtrack.grouping import canonical_bytes, canonical_message

WEATHER_ARGS = '{"city": "Lyon", "units": "metric"}'


def same(*messages: Any) -> None:
    """Assert that all messages have one canonical encoding."""
    encodings = {canonical_bytes(m) for m in messages}
    assert len(encodings) == 1, [canonical_message(m) for m in messages]


def openai_tool_call_dict(arguments: Any = WEATHER_ARGS) -> dict[str, Any]:
    return {
        "id": "call_1",
        "type": "function",
        "function": {"name": "weather", "arguments": arguments},
    }


def openai_response(**fields: Any) -> ChatCompletionMessage:
    return ChatCompletionMessage(role="assistant", **fields)


def anthropic_message(*blocks: Any) -> anth.Message:
    return anth.Message(
        id="msg_01",
        type="message",
        role="assistant",
        model="claude-x",
        content=list(blocks),
        stop_reason="end_turn",
        stop_sequence=None,
        usage=anth.Usage(input_tokens=10, output_tokens=5),
    )


def test_text_equals_a_list_of_one_text_part() -> None:
    """ "text" == [{"type": "text", "text": "text"}] == ["text"]."""
    same(
        {"role": "user", "content": "text"},
        {"role": "user", "content": [{"type": "text", "text": "text"}]},
        {"role": "user", "content": ["text"]},
        {"role": "user", "content": {"type": "text", "text": "text"}},
    )


def test_a_list_of_only_text_parts_is_the_joined_text() -> None:
    """Several text parts mean their concatenation; empty parts are nothing."""
    same(
        {"role": "user", "content": "hello world"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "hello "}, {"type": "text", "text": "world"}],
        },
        {"role": "user", "content": ["hello ", "", {"type": "input_text", "text": "world"}]},
    )


def test_none_and_empty_optional_fields_equal_their_absence() -> None:
    """tool_calls [], name None, refusal None, audio None, function_call None, annotations []."""
    same(
        {"role": "assistant", "content": "hi"},
        {
            "role": "assistant",
            "content": "hi",
            "tool_calls": [],
            "name": None,
            "refusal": None,
            "audio": None,
            "function_call": None,
            "annotations": [],
        },
        {"role": "assistant", "content": "hi", "name": "", "tool_call_id": None},
    )


def test_empty_content_equals_absent_content() -> None:
    """content None, "" and [] mean no content."""
    calls = [openai_tool_call_dict()]
    same(
        {"role": "assistant", "tool_calls": calls},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "assistant", "content": "", "tool_calls": calls},
        {"role": "assistant", "content": [], "tool_calls": calls},
    )


def test_tool_call_arguments_json_string_equals_dict() -> None:
    """Arguments compare as parsed JSON: string, dict and reformatted string are equal."""
    same(
        {"role": "assistant", "tool_calls": [openai_tool_call_dict()]},
        {"role": "assistant", "tool_calls": [openai_tool_call_dict(json.loads(WEATHER_ARGS))]},
        {
            "role": "assistant",
            "tool_calls": [openai_tool_call_dict('{\n  "units": "metric",\n  "city": "Lyon"\n}')],
        },
    )


def test_no_tool_arguments_in_any_spelling_are_equal() -> None:
    """Arguments "", "{}", {} and None all mean a call without arguments."""
    same(
        *(
            {"role": "assistant", "tool_calls": [openai_tool_call_dict(args)]}
            for args in ("", "{}", {}, None, "  ")
        )
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("id", "call_2"), ("name", "forecast"), ("arguments", '{"city": "Paris"}')],
)
def test_tool_calls_differing_in_id_name_or_arguments_differ(field: str, value: str) -> None:
    """Tool calls are compared by id, name and arguments."""
    other = openai_tool_call_dict()
    if field == "id":
        other["id"] = value
    else:
        other["function"] = {**other["function"], field: value}
    a = {"role": "assistant", "tool_calls": [openai_tool_call_dict()]}
    b = {"role": "assistant", "tool_calls": [other]}
    assert canonical_bytes(a) != canonical_bytes(b)


def test_openai_response_object_equals_the_dict_sent_back() -> None:
    """A ChatCompletionMessage equals the dict an app sends next turn, and its dumps."""
    response = openai_response(
        content=None,
        tool_calls=[
            ChatCompletionMessageFunctionToolCall(
                id="call_1",
                type="function",
                function=Function(name="weather", arguments=WEATHER_ARGS),
            )
        ],
    )
    same(
        response,
        response.model_dump(),
        response.model_dump(exclude_none=True),
        {"role": "assistant", "tool_calls": [openai_tool_call_dict()]},
    )
    text = openai_response(content="It is sunny.")
    same(text, {"role": "assistant", "content": "It is sunny."}, text.model_dump(mode="json"))


def test_openai_refusal_is_part_of_the_message() -> None:
    """A refusal is content-like: it is kept and compared."""
    refused = openai_response(content=None, refusal="I can't help with that.")
    same(refused, {"role": "assistant", "refusal": "I can't help with that."})
    assert canonical_bytes(refused) != canonical_bytes({"role": "assistant"})


def test_openai_audio_is_compared_by_its_id() -> None:
    """A response's audio object equals the {"id"} an app sends back."""
    response = {
        "role": "assistant",
        "audio": {"id": "audio_1", "data": "AAA=", "expires_at": 1, "transcript": "hi"},
    }
    same(response, {"role": "assistant", "audio": {"id": "audio_1"}})


def test_anthropic_message_equals_its_content_sent_back() -> None:
    """An Anthropic Message equals {"role", "content": its blocks} as objects or dicts."""
    message = anthropic_message(
        anth.TextBlock(type="text", text="Let me check."),
        anth.ToolUseBlock(
            type="tool_use", id="toolu_1", name="weather", input={"city": "Lyon", "units": "metric"}
        ),
    )
    same(
        message,
        {"role": "assistant", "content": message.content},
        {"role": "assistant", "content": [block.model_dump() for block in message.content]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check.", "cache_control": {"type": "ephemeral"}},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "weather",
                    "input": {"units": "metric", "city": "Lyon"},
                },
            ],
        },
    )


def test_anthropic_text_only_message_equals_plain_text() -> None:
    """An Anthropic Message with one TextBlock equals an assistant message with str content."""
    same(
        anthropic_message(anth.TextBlock(type="text", text="Hi!")),
        {"role": "assistant", "content": "Hi!"},
    )


def test_anthropic_thinking_block_object_equals_its_dict() -> None:
    """Blocks other than text keep their fields: an SDK block equals its dict."""
    thinking = anth.ThinkingBlock(type="thinking", thinking="hmm", signature="sig")
    message = anthropic_message(thinking, anth.TextBlock(type="text", text="Yes."))
    same(
        message,
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "Yes."},
            ],
        },
    )
    other = {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "hmm?", "signature": "sig"},
            {"type": "text", "text": "Yes."},
        ],
    }
    assert canonical_bytes(message) != canonical_bytes(other)


def test_anthropic_tool_use_block_equals_openai_tool_call() -> None:
    """A tool_use content block and an OpenAI tool call with the same id/name/args are equal."""
    same(
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "call_1",
                    "name": "weather",
                    "input": json.loads(WEATHER_ARGS),
                }
            ],
        },
        {"role": "assistant", "tool_calls": [openai_tool_call_dict()]},
    )


def test_anthropic_tool_results_compare_by_id_content_and_error() -> None:
    """tool_result blocks: text content in any spelling equal; is_error false == absent."""
    same(
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 C"}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": "18 C"}],
                    "is_error": False,
                    "cache_control": None,
                }
            ],
        },
    )
    base = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 C"}
    variants = [
        base,
        {**base, "is_error": True},
        {**base, "tool_use_id": "toolu_2"},
        {**base, "content": "19 C"},
    ]
    assert len({canonical_bytes({"role": "user", "content": [v]}) for v in variants}) == 4


def test_openai_tool_result_message_keeps_its_call_id() -> None:
    """A role "tool" message is compared by tool_call_id and content."""
    a = {"role": "tool", "tool_call_id": "call_1", "content": "18 C"}
    same(
        a, {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "18 C"}]}
    )
    assert canonical_bytes(a) != canonical_bytes({**a, "tool_call_id": "call_2"})


def test_langchain_messages_equal_openai_dicts() -> None:
    """HumanMessage, SystemMessage, AIMessage (with tool_calls) and ToolMessage map to roles."""
    same(HumanMessage("hi"), {"role": "user", "content": "hi"}, {"role": "human", "content": "hi"})
    same(SystemMessage("be kind"), {"role": "system", "content": "be kind"})
    same(
        AIMessage("hello"),
        {"role": "assistant", "content": "hello"},
        {"role": "ai", "content": "hello"},
    )
    same(
        AIMessage(
            "", tool_calls=[{"id": "call_1", "name": "weather", "args": json.loads(WEATHER_ARGS)}]
        ),
        {"role": "assistant", "content": None, "tool_calls": [openai_tool_call_dict()]},
    )
    same(
        ToolMessage("18 C", tool_call_id="call_1"),
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C"},
    )


def test_langchain_anthropic_style_message_counts_each_tool_call_once() -> None:
    """An AIMessage holding a tool_use block and the same call in tool_calls counts it once."""
    block = {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Lyon"}}
    message = AIMessage(
        content=[{"type": "text", "text": "Checking."}, block],
        tool_calls=[{"id": "toolu_1", "name": "weather", "args": {"city": "Lyon"}}],
    )
    same(message, {"role": "assistant", "content": [{"type": "text", "text": "Checking."}, block]})


def test_langchain_message_dump_equals_the_message() -> None:
    """A LangChain message's model_dump() (type "ai") equals the message itself."""
    message = AIMessage("hello", id="run-1", response_metadata={"model": "x"})
    same(message, message.model_dump(), {"role": "assistant", "content": "hello"})


def test_developer_role_stays_distinct_from_system() -> None:
    """ "developer" and "system" are kept apart."""
    assert canonical_bytes({"role": "developer", "content": "x"}) != canonical_bytes(
        {"role": "system", "content": "x"}
    )


def test_image_parts_ignore_cache_hints_and_url_spelling() -> None:
    """An image_url given as a str equals {"url": ...}; cache_control is ignored."""
    same(
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": "https://x/y.png"},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://x/y.png", "detail": None},
                    "cache_control": {"type": "ephemeral"},
                },
            ],
        },
    )


def test_text_around_other_parts_keeps_its_place() -> None:
    """Text before and after an image is not merged across it."""
    image = {"type": "image_url", "image_url": {"url": "u"}}
    a = {"role": "user", "content": ["a", image, "b"]}
    b = {"role": "user", "content": ["ab", image]}
    assert canonical_bytes(a) != canonical_bytes(b)


@pytest.mark.parametrize(
    "other",
    [
        {"role": "user", "content": "hi!"},
        {"role": "assistant", "content": "hi"},
        {"role": "user", "content": "hi", "name": "bob"},
        {"role": "user", "content": ["hi", {"type": "image_url", "image_url": {"url": "u"}}]},
    ],
)
def test_messages_that_mean_different_things_differ(other: dict[str, Any]) -> None:
    """Role, content, name and extra parts all count."""
    assert canonical_bytes({"role": "user", "content": "hi"}) != canonical_bytes(other)


@pytest.mark.parametrize(
    "junk",
    [
        None,
        0,
        1.5,
        float("nan"),
        b"\x00\xff",
        "just text",
        ["a", 1],
        {"no": "role"},
        object(),
        HumanMessage,
        len,
        {1, 2},
        Exception("boom"),
    ],
)
def test_anything_else_is_encoded_deterministically(junk: object) -> None:
    """Non-messages encode without error, the same way every time, unlike any message."""
    first = canonical_bytes(junk)
    assert first == canonical_bytes(junk)
    assert canonical_message(junk) is None
    assert first != canonical_bytes({"role": "user", "content": "just text"})


def test_cycles_and_deep_nesting_are_encoded_without_error() -> None:
    """Self-referencing and very deep structures still encode, deterministically."""
    loop: list[Any] = []
    loop.append(loop)
    deep: Any = "bottom"
    for _ in range(5000):
        deep = [deep]
    cyclic_part: dict[str, Any] = {"type": "image", "source": {}}
    cyclic_part["source"]["self"] = cyclic_part
    for junk in (loop, deep, {"role": "user", "content": [cyclic_part]}):
        assert canonical_bytes(junk) == canonical_bytes(junk)


def test_unknown_objects_encode_by_type_and_simple_state_never_by_identity() -> None:
    """Objects of one class with equal simple state are equal; identity never matters."""

    class Note:
        def __init__(self, text: str) -> None:
            self.text = text

    assert canonical_bytes(Note("a")) == canonical_bytes(Note("a"))
    assert canonical_bytes(Note("a")) != canonical_bytes(Note("b"))
    assert canonical_bytes(object()) == canonical_bytes(object())


def test_nested_none_fields_in_other_parts_equal_their_absence() -> None:
    """SDK dumps spell absent nested fields None, also inside lists; dicts omit them."""
    dumped = {
        "type": "search_result",
        "results": [{"url": "u", "page_age": None}],
        "extra": {"a": None, "b": []},
    }
    written = {"type": "search_result", "results": [{"url": "u"}]}
    same({"role": "assistant", "content": [dumped]}, {"role": "assistant", "content": [written]})
