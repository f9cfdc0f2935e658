"""The viewer's payloads: transcripts from LLM runs, run trees, token counts, parameters."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from viewer_support import chat_run, make_run

from convtrack import Run, RunKind
from convtrack.viewer._params import BadRequestError, parse_list_query, parse_since
from convtrack.viewer._payload import MAX_TREE_DEPTH, conversation_payload, tokens
from convtrack.viewer._transcript import message_text, transcript

UTC = timezone.utc
T0 = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


def said(runs: list[Run]) -> list[list[tuple[str, str]]]:
    """The (role, text) pairs each LLM run adds to the transcript."""
    return [[(m["role"], m["text"]) for m in messages] for _, messages in transcript(runs)]


def at(seconds: float) -> datetime:
    """A time `seconds` after T0."""
    return T0 + timedelta(seconds=seconds)


def test_resent_history_is_shown_once() -> None:
    """Turn N shows only what came after turn N-1's messages and answer."""
    u1, a1 = {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}
    u2 = {"role": "user", "content": "how are you?"}
    runs = [
        chat_run("c", [{"role": "system", "content": "be kind"}, u1], "hello", started_at=at(0)),
        chat_run(
            "c", [{"role": "system", "content": "be kind"}, u1, a1, u2], "fine", started_at=at(1)
        ),
    ]
    assert said(runs) == [
        [("system", "be kind"), ("user", "hi"), ("assistant", "hello")],
        [("user", "how are you?"), ("assistant", "fine")],
    ]


def test_a_changed_history_falls_back_to_after_the_last_assistant() -> None:
    """When the history was edited, the messages after its last assistant message are new."""
    runs = [
        chat_run("c", [{"role": "user", "content": "hi"}], "hello"),
        chat_run(
            "c",
            [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello", "refusal": None},  # SDK dump
                {"role": "tool", "content": "42", "tool_call_id": "t1"},
                {"role": "user", "content": "and?"},
            ],
            "done",
        ),
    ]
    assert said(runs)[1] == [("tool", "42"), ("user", "and?"), ("assistant", "done")]


def test_content_parts_tool_calls_and_system_parameter() -> None:
    """Content blocks, OpenAI tool calls and Anthropic's system parameter read as text."""
    run = make_run(
        "c",
        inputs={
            "system": [{"type": "text", "text": "You are terse."}],
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {"type": "image_url", "image_url": {"url": "data:..."}},
                    ],
                },
            ],
        },
        outputs={
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "t1", "function": {"name": "find", "arguments": '{"q": 1}'}}],
        },
    )
    (turn,) = said([run])
    assert turn[0] == ("system", "You are terse.")
    assert turn[1][0] == "user"
    assert turn[1][1].startswith("look\n{")
    assert turn[2] == ("assistant", '[tool call] find({"q": 1})')
    blocks = {"role": "assistant", "content": [{"type": "tool_use", "name": "f", "input": {}}]}
    assert message_text(blocks) == "[tool call] f({})"


@pytest.mark.parametrize(
    ("inputs", "outputs", "expected"),
    [
        ("just a prompt", "an answer", [("user", "just a prompt"), ("assistant", "an answer")]),
        (["a", "b"], None, [("user", "a"), ("user", "b")]),
        (["a", 1], None, [("input", '["a",1]')]),
        ([], None, [("input", "[]")]),
        ({"prompt": "p"}, {"text": "t"}, [("input", '{"prompt":"p"}'), ("output", '{"text":"t"}')]),
        (None, None, []),
        ([{"type": "human", "content": "hey"}], None, [("user", "hey")]),
        (
            {"messages": [42, None]},
            [1],
            [("message", "42"), ("message", "null"), ("assistant", "1")],
        ),
    ],
)
def test_other_shapes_are_shown_as_text(inputs: Any, outputs: Any, expected: Any) -> None:
    """Inputs and outputs off the convention become text, never an exception."""
    assert said([make_run("c", inputs=inputs, outputs=outputs)]) == [expected]


def test_only_llm_runs_make_the_transcript() -> None:
    """Chains, tools and retrievers are in the tree, not in the transcript."""
    chain = make_run(
        "c", kind=RunKind.CHAIN, inputs={"messages": [{"role": "user", "content": "x"}]}
    )
    assert transcript([chain]) == []


def test_tree_nests_children_and_groups_turns_by_top_level_run() -> None:
    """Children hang under parents; each top-level run with LLM calls is one turn."""
    root = make_run("c", kind=RunKind.CHAIN, name="turn", started_at=at(0), duration=3)
    tool = make_run("c", kind=RunKind.TOOL, name="tool", parent=root, started_at=at(1))
    llm = chat_run("c", [{"role": "user", "content": "q"}], "a", parent=root, started_at=at(2))
    lone = make_run("c", kind=RunKind.CHAIN, name="job", started_at=at(5))
    orphan = make_run("c", kind=RunKind.TOOL, parent_run_id="elsewhere", started_at=at(6))
    payload = conversation_payload("c", [root, tool, llm, lone, orphan])
    assert [r["name"] for r in payload["runs"]] == ["turn", "job", orphan.name]
    assert [c["run_id"] for c in payload["runs"][0]["children"]] == [tool.run_id, llm.run_id]
    assert payload["turns"] == [
        {
            "root_run_id": root.run_id,
            "messages": [
                {"run_id": llm.run_id, "role": "user", "text": "q"},
                {"run_id": llm.run_id, "role": "assistant", "text": "a"},
            ],
        }
    ]
    summary = payload["summary"]
    assert (summary["first_at"], summary["last_at"]) == (at(0).isoformat(), at(6.25).isoformat())


def test_parent_loops_are_cut_and_depth_is_capped() -> None:
    """Hostile parent links neither hang nor lose runs; very deep trees are flattened."""
    a = make_run("c", run_id="a", parent_run_id="b")
    b = make_run("c", run_id="b", parent_run_id="a")
    self_parent = make_run("c", run_id="s", parent_run_id="s")
    payload = conversation_payload("c", [a, b, self_parent])
    names = json.dumps(payload["runs"])
    assert all(f'"run_id": "{rid}"' in names for rid in "abs")
    chain = [make_run("c", run_id="r0")]
    for i in range(1, 200):
        chain.append(make_run("c", run_id=f"r{i}", parent_run_id=f"r{i - 1}"))
    deep = conversation_payload("c", chain)
    depth, node = 0, deep["runs"][0]
    while node["children"]:
        depth += 1
        node = node["children"][0]
    assert depth == MAX_TREE_DEPTH
    assert len(json.dumps(deep)) > 0


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"input_tokens": 3, "output_tokens": 4}, {"input": 3, "output": 4, "total": 7}),
        (
            {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 9},
            {"input": 3, "output": 4, "total": 9},
        ),
        ({"total_tokens": 5}, {"input": 0, "output": 0, "total": 5}),
        ({"input_tokens": True, "cost": 1.5}, None),
        (None, None),
    ],
)
def test_tokens_read_either_naming(usage: Any, expected: Any) -> None:
    """OpenAI's and Anthropic's usage keys give the same input/output/total."""
    assert tokens(usage) == expected


def test_since_and_limit_parsing() -> None:
    """Spans count back from now; naive times are UTC; the rest (or an unknown name) is a 400."""
    now = datetime(2025, 1, 2, tzinfo=UTC)
    assert parse_since("90m", now) == now - timedelta(minutes=90)
    assert parse_since("2W", now) == now - timedelta(weeks=2)
    assert parse_since("2025-01-01T10:00:00z") == datetime(2025, 1, 1, 10, tzinfo=UTC)
    assert parse_since("2025-01-01T10:00:00+02:00").utcoffset() == timedelta(hours=2)
    query = parse_list_query({"limit": " 7 ", "user_id": "u", "agent_id": ""})
    assert (query.limit, query.user_id, query.agent_id, query.since) == (7, "u", None, None)
    with pytest.raises(BadRequestError, match="'extra': unknown parameter"):
        parse_list_query({"extra": "x"})
    with pytest.raises(BadRequestError, match="limit"):
        parse_list_query({"limit": "1.5"})
    with pytest.raises(BadRequestError, match="since"):
        parse_since("soon")


# What a store can hold: JSON that orjson wrote, so integers within 64 bits.
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["role", "content", "type", "text", "tool_calls", "x"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_json, _json, st.sampled_from(list(RunKind))), min_size=1, max_size=5))
def test_any_json_makes_a_payload(specs: list[tuple[Any, Any, RunKind]]) -> None:
    """Whatever JSON the runs carry, the payload is built and serialisable."""
    runs = [
        make_run("c", kind=kind, inputs=inputs, outputs=outputs, started_at=at(i))
        for i, (inputs, outputs, kind) in enumerate(specs)
    ]
    payload = conversation_payload("c", runs)
    json.dumps(payload)
    for turn in payload["turns"]:
        assert all(isinstance(m["text"], str) for m in turn["messages"])


def _nested_model_call(usage_outer: Any) -> list[Run]:
    """A LangChain-style chat model run with the SDK call it made inside it (same messages)."""
    history = [{"role": "user", "content": "hi"}]
    outer = chat_run("c", history, "hello", started_at=at(0), usage=usage_outer)
    inner = chat_run(
        "c",
        history,
        "hello",
        parent=outer,
        started_at=at(0.1),
        usage={"input_tokens": 3, "output_tokens": 4},
    )
    return [outer, inner]


@pytest.mark.parametrize("outer_usage", [{"input_tokens": 3, "output_tokens": 4}, None])
def test_an_llm_run_inside_an_llm_run_is_one_model_call(outer_usage: Any) -> None:
    """The SDK call inside a chat model's run counts once: one LLM call, its tokens once (the
    inner run's when the outer has none), one transcript turn."""
    runs = _nested_model_call(outer_usage)
    summary = conversation_payload("c", runs)["summary"]
    assert summary["llm_count"] == 1
    assert summary["run_count"] == 2
    assert summary["tokens"] == {"input": 3, "output": 4, "total": 7}
    assert said(runs) == [[("user", "hi"), ("assistant", "hello")]]
