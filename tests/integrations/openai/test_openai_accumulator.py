"""The streamed answer convtrack assembles equals the message the SDK returns."""

from __future__ import annotations

from typing import Any

from convtrack_openai._chat import ChatAccumulator, usage_of
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessage

from convtrack.grouping import canonical_message


def chunk(choices: list[dict[str, Any]], **extra: Any) -> ChatCompletionChunk:
    """A ChatCompletionChunk with the given choices."""
    head = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-x"}
    return ChatCompletionChunk.model_validate({**head, "choices": choices, **extra})


def delta(index: int, finish: str | None = None, **fields: Any) -> dict[str, Any]:
    """One choice of a chunk."""
    return {"index": index, "delta": fields, "finish_reason": finish}


CALL_A = {
    "index": 0,
    "id": "call_a",
    "type": "function",
    "function": {"name": "f", "arguments": ""},
}
CALL_B = {
    "index": 1,
    "id": "call_b",
    "type": "function",
    "function": {"name": "g", "arguments": ""},
}


def test_parallel_tool_calls_and_two_choices_are_assembled() -> None:
    """Tool calls by index and choices by index come out as the SDK's messages."""
    acc = ChatAccumulator()
    chunks = [
        chunk([delta(0, role="assistant", tool_calls=[CALL_A, CALL_B]), delta(1, content="Hel")]),
        chunk([delta(0, tool_calls=[{"index": 0, "function": {"arguments": '{"x":'}}])]),
        chunk([delta(0, tool_calls=[{"index": 1, "function": {"arguments": "{}"}}])]),
        chunk([delta(0, tool_calls=[{"index": 0, "function": {"arguments": " 1}"}}])]),
        chunk([delta(1, content="lo", finish="stop"), delta(0, finish="tool_calls")]),
        chunk([], usage={"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}),
    ]
    for item in chunks:
        acc.observe(item)
    answer = acc.answer(True)
    first, second = (tail[0] for tail in answer.tails)
    expected = ChatCompletionMessage.model_validate(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "f", "arguments": '{"x": 1}'},
                },
                {"id": "call_b", "type": "function", "function": {"name": "g", "arguments": "{}"}},
            ],
        }
    )
    assert canonical_message(first) == canonical_message(expected)
    assert second == {"role": "assistant", "content": "Hello"}
    assert answer.outputs == first
    assert answer.usage == {"input_tokens": 5, "output_tokens": 7, "total_tokens": 12}
    assert acc.complete


def test_usage_names_are_normalised() -> None:
    """Chat and Responses usage both become input/output/total tokens, with details."""
    chat = {
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "total_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 2},
        "completion_tokens_details": {"reasoning_tokens": 1},
    }
    assert usage_of(chat) == {
        "input_tokens": 3,
        "output_tokens": 4,
        "total_tokens": 7,
        "cached_input_tokens": 2,
        "reasoning_tokens": 1,
    }
    assert usage_of({"input_tokens": 3, "output_tokens": 4}) == {
        "input_tokens": 3,
        "output_tokens": 4,
        "total_tokens": 7,
    }
    assert usage_of(None) is None
