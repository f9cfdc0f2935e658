"""The Responses API: previous_response_id and conversation say which conversation it is."""

from __future__ import annotations

import inspect
from typing import Any

import openai
import pytest
from openai.resources.responses import Responses
from openai_support import MODEL, Respond, llm_runs

import convtrack
from convtrack.grouping import ConversationGrouper


async def test_previous_response_id_chains_one_conversation(
    respond: Respond, sink: convtrack.MemorySink
) -> None:
    """Each turn continues its previous response's conversation: auto-new, then matched."""
    first = await respond(input="hi", instructions="be brief")
    second = await respond(input="and then?", previous_response_id=first.id)
    await respond(input="thanks", previous_response_id=second.id)
    runs = llm_runs(sink)
    assert [r.grouping for r in runs] == ["auto-new", "auto-matched", "auto-matched"]
    assert len({r.conversation_id for r in runs}) == 1
    assert runs[0].name == "openai.responses"
    assert runs[0].inputs == {"input": "hi", "instructions": "be brief"}
    assert runs[1].inputs == {"input": "and then?", "previous_response_id": first.id}
    assert runs[2].outputs == {"role": "assistant", "content": "echo #3: thanks"}
    assert runs[2].usage == {"input_tokens": 4, "output_tokens": 3, "total_tokens": 7}
    assert runs[1].metadata["response_id"] == second.id


async def test_two_chains_stay_apart(respond: Respond, sink: convtrack.MemorySink) -> None:
    """Two interleaved chains are two conversations."""
    a = await respond(input="chat a")
    b = await respond(input="chat b")
    await respond(input="more a", previous_response_id=a.id)
    await respond(input="more b", previous_response_id=b.id)
    ids = [r.conversation_id for r in llm_runs(sink)]
    assert ids[0] == ids[2] != ids[1] == ids[3]


@pytest.mark.skipif(
    "conversation" not in inspect.signature(Responses.create).parameters,
    reason="this openai release has no `conversation` parameter (added in 1.101)",
)
async def test_the_conversation_parameter_names_the_conversation(
    respond: Respond, sink: convtrack.MemorySink
) -> None:
    """`conversation="conv_..."` (or `{"id": ...}`) is the conversation id, explicit."""
    await respond(input="hi", conversation="conv_123")
    await respond(input="again", conversation={"id": "conv_123"})
    runs = llm_runs(sink)
    assert [(r.conversation_id, r.grouping) for r in runs] == [("conv_123", "explicit")] * 2


async def test_metadata_id_wins_over_the_chain(
    respond: Respond, sink: convtrack.MemorySink
) -> None:
    """Request metadata `conversation_id` wins over previous_response_id."""
    first = await respond(input="hi")
    await respond(input="more", previous_response_id=first.id, metadata={"conversation_id": "m"})
    assert [r.conversation_id for r in llm_runs(sink)][1] == "m"


async def test_context_wins_over_the_chain(respond: Respond, sink: convtrack.MemorySink) -> None:
    """Inside a convtrack conversation, the call belongs to it."""
    first = await respond(input="hi")
    with convtrack.conversation("ctx-r"):
        await respond(input="more", previous_response_id=first.id)
    assert [(r.conversation_id, r.grouping) for r in llm_runs(sink)][1] == ("ctx-r", "context")


async def test_an_explicit_conversation_is_continued_by_its_chain(
    respond: Respond, sink: convtrack.MemorySink
) -> None:
    """A response recorded under an explicit id is continued by the next turn's chain."""
    with convtrack.conversation("ctx-first"):
        first = await respond(input="hi")
    await respond(input="more", previous_response_id=first.id)
    second = llm_runs(sink)[1]
    assert (second.conversation_id, second.grouping) == ("ctx-first", "auto-matched")


async def test_a_resent_history_groups_like_chat(
    respond: Respond, sink: convtrack.MemorySink
) -> None:
    """Without previous_response_id, an input resending the history groups by hashing."""
    history: list[Any] = [{"role": "user", "content": "hi"}]
    first = await respond(input=history, store=False)
    history += [*first.output, {"role": "user", "content": "more"}]
    await respond(input=history, store=False)
    runs = llm_runs(sink)
    assert [r.grouping for r in runs] == ["auto-new", "auto-matched"]
    assert runs[0].conversation_id == runs[1].conversation_id


async def test_store_false_responses_are_not_chained(
    respond: Respond, sink: convtrack.MemorySink
) -> None:
    """A response made with store=False cannot be continued by id: no marker is kept."""
    first = await respond(input="hi", store=False)
    await respond(input="more", previous_response_id=first.id)
    assert [r.grouping for r in llm_runs(sink)] == ["auto-new", "auto-new"]


async def test_a_regenerated_turn_forks_in_consume_mode(
    respond: Respond, sink: convtrack.MemorySink
) -> None:
    """Continuing the same response twice: the second is a new conversation (consume)."""
    first = await respond(input="hi")
    await respond(input="more", previous_response_id=first.id)
    await respond(input="more", previous_response_id=first.id)
    assert [r.grouping for r in llm_runs(sink)] == ["auto-new", "auto-matched", "auto-new"]


async def test_a_regenerated_turn_stays_in_peek_mode(respond: Respond) -> None:
    """In peek mode the regenerated turn stays, recorded with `branch_of`."""
    sink = convtrack.MemorySink()
    grouper = ConversationGrouper(mode="peek")
    convtrack.configure([sink], grouping=grouper, export_interval=0.05)
    convtrack.instrument("openai")
    first = await respond(input="hi")
    await respond(input="more", previous_response_id=first.id)
    await respond(input="more", previous_response_id=first.id)
    runs = llm_runs(sink)
    assert len({r.conversation_id for r in runs}) == 1
    assert runs[2].metadata["branch_of"] == runs[0].conversation_id


async def test_an_unknown_previous_response_is_an_error(
    respond: Respond, sink: convtrack.MemorySink
) -> None:
    """The API's 400 for an unknown previous response is re-raised and recorded."""
    with pytest.raises(openai.BadRequestError):
        await respond(input="x", previous_response_id="resp_nope")
    (run,) = llm_runs(sink)
    assert run.status == "error"
    assert run.grouping == "auto-new"


async def test_a_function_call_answer_is_recorded(
    respond: Respond, sink: convtrack.MemorySink
) -> None:
    """Function calls in the output are the run's tool calls."""
    tools = [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]
    response = await respond(input="find x", tools=tools)
    (run,) = llm_runs(sink)
    assert run.outputs["tool_calls"] == [
        {"id": response.output[0].call_id, "name": "lookup", "arguments": '{"query": "find x"}'}
    ]


async def test_an_error_event_in_a_stream_is_recorded(
    client: openai.OpenAI, sink: convtrack.MemorySink
) -> None:
    """An `error` event in a Responses stream marks the run as failed; nothing is raised."""
    events = list(client.responses.create(model=MODEL, input="a b [stream-error]", stream=True))
    # openai < 2 hands a named `error` event over as `{"event": "error", "data": {...}}`
    assert "error" in (getattr(events[-1], "type", None), getattr(events[-1], "event", None))
    (run,) = llm_runs(sink)
    assert (run.status, run.error) == ("error", "stream failed")
    assert run.outputs == {"role": "assistant", "content": "echo "}


async def test_the_responses_stream_helper(
    aclient: openai.AsyncOpenAI, client: openai.OpenAI, sink: convtrack.MemorySink
) -> None:
    """`responses.stream()` works unchanged (sync and async); leaving early ends the run."""
    with client.responses.stream(model=MODEL, input="one two three") as stream:
        assert stream.get_final_response().output_text == "echo #1: one two three"
    async with aclient.responses.stream(model=MODEL, input="four five six") as astream:
        async for event in astream:
            if event.type == "response.output_text.delta":
                break
    done, left = llm_runs(sink)
    assert done.outputs == {"role": "assistant", "content": "echo #1: one two three"}
    assert left.outputs == {"role": "assistant", "content": "echo "}
    assert left.metadata["incomplete"] is True


def test_parse_is_recorded(client: openai.OpenAI, sink: convtrack.MemorySink) -> None:
    """`responses.parse()` and `chat.completions.parse()` are recorded like create()."""
    client.responses.parse(model=MODEL, input="hi")
    client.chat.completions.parse(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    runs = llm_runs(sink)
    assert [r.name for r in runs] == ["openai.responses", "openai.chat.completions"]
    assert all(r.outputs["content"] == "echo #1: hi" for r in runs)


@pytest.mark.parametrize("spelling", ["objects", "dicts"])
async def test_a_tool_turn_resent_as_items_stays_in_its_conversation(
    spelling: str, respond: Respond, sink: convtrack.MemorySink
) -> None:
    """function_call/function_call_output items resent with the history (store=False, the
    Agents SDK's to_input_list()) continue the conversation, turn after turn."""
    tools = [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]

    def resend(output: list[Any]) -> list[Any]:
        if spelling == "objects":
            return list(output)
        return [item.model_dump(exclude_unset=True) for item in output]

    history: list[Any] = [{"role": "user", "content": "find x"}]
    first = await respond(input=history, tools=tools, store=False)
    output = {"type": "function_call_output", "call_id": first.output[0].call_id, "output": "7"}
    history += [*resend(first.output), output]
    second = await respond(input=history, tools=tools, store=False)
    assert second.output_text == "tool said: 7"
    history += [*resend(second.output), {"role": "user", "content": "find y"}]
    third = await respond(input=history, tools=tools, store=False)
    assert third.output[0].type == "function_call"
    runs = llm_runs(sink)
    assert [r.grouping for r in runs] == ["auto-new", "auto-matched", "auto-matched"]
    assert len({r.conversation_id for r in runs}) == 1
