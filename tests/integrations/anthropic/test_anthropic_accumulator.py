"""The streamed answer convtrack assembles equals the Message the SDK assembles."""

from __future__ import annotations

from typing import Any

import pydantic
from anthropic.types import Message, RawMessageStreamEvent
from convtrack_anthropic._messages import MessagesAccumulator

from convtrack.grouping import canonical_message


def start(index: int, **block: Any) -> dict[str, Any]:
    """A content_block_start event."""
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, **fields: Any) -> dict[str, Any]:
    """A content_block_delta event."""
    return {"type": "content_block_delta", "index": index, "delta": fields}


def stop(index: int) -> dict[str, Any]:
    """A content_block_stop event."""
    return {"type": "content_block_stop", "index": index}


MESSAGE = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x"}
EVENTS: list[dict[str, Any]] = [
    {
        "type": "message_start",
        "message": {
            **MESSAGE,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 1, "cache_read_input_tokens": 5},
        },
    },
    start(0, type="thinking", thinking="", signature=""),
    delta(0, type="thinking_delta", thinking="Let me "),
    delta(0, type="thinking_delta", thinking="think."),
    delta(0, type="signature_delta", signature="sig=="),
    stop(0),
    start(1, type="text", text=""),
    delta(1, type="text_delta", text="Checking"),
    delta(1, type="text_delta", text=" now."),
    stop(1),
    start(2, type="tool_use", id="toolu_1", name="lookup", input={}),
    delta(2, type="input_json_delta", partial_json='{"q": '),
    delta(2, type="input_json_delta", partial_json='"x"}'),
    stop(2),
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 42},
    },
    {"type": "message_stop"},
]
FINAL = {
    **MESSAGE,
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 10, "output_tokens": 42},
    "content": [
        {"type": "thinking", "thinking": "Let me think.", "signature": "sig=="},
        {"type": "text", "text": "Checking now."},
        {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}},
    ],
}


def _events() -> list[Any]:
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RawMessageStreamEvent)
    return [adapter.validate_python(event) for event in EVENTS]


def test_thinking_text_and_tool_use_blocks_match_the_final_message() -> None:
    """Thinking, text and tool_use blocks canonicalise like the SDK's final Message."""
    acc = MessagesAccumulator()
    for event in _events():
        acc.observe(event)
    answer = acc.answer(True)
    (tail,) = answer.tails
    assert acc.complete
    assert answer.outputs == {"role": "assistant", "content": FINAL["content"]}
    assert canonical_message(tail[0]) == canonical_message(Message.model_validate(FINAL))
    assert answer.usage == {
        "input_tokens": 10,
        "output_tokens": 42,
        "cache_read_input_tokens": 5,
        "total_tokens": 57,
    }
    assert (answer.model, answer.response_id) == ("claude-x", "msg_1")


def test_a_cut_stream_keeps_partial_tool_arguments() -> None:
    """Tool arguments cut in the middle are kept as the raw text received."""
    acc = MessagesAccumulator()
    for event in _events()[:12]:
        acc.observe(event)
    answer = acc.answer(True)
    assert not acc.complete
    assert answer.outputs["content"][2]["input"] == '{"q": '
