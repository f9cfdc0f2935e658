"""A multi-turn app on instructor (structured answers from the OpenAI client), two users
interleaved.

Runs in .ci/frameworks' venv: instructor 1.17 needs rich<15, beside the main pins.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import convtrack_openai
import openai
import pytest
from frameworks_support import (
    TURNS,
    USERS,
    check_one_conversation_per_user,
    conversations_of,
    prompt,
    recorded_outputs,
    user_in,
)
from pydantic import BaseModel

import convtrack
from convtrack import Run
from convtrack.fake_llm import FakeLLMServer
from convtrack.testing import CapturedRuns

if not os.environ.get("CONVTRACK_REQUIRE_FRAMEWORKS"):  # set by .ci/frameworks: no skip there
    pytest.importorskip("instructor", reason="installed by .ci/frameworks only")
import instructor

REQUESTS = 8  # per user: a structured turn, a tool turn (two calls), a streamed turn
IDS = [pytest.param(False, id="no-ids"), pytest.param(True, id="conversation-ids")]
MODEL = "gpt-4o-mini"


class Lookup(BaseModel):
    """What to look up."""

    query: str


def lookup(query: str) -> str:
    """Look the query up."""
    return f"found {query}"


def instructor_app(server: FakeLLMServer, ids: bool, as_text: bool = False) -> dict[str, list[Any]]:
    """Each user's three turns, interleaved, the history resent each turn; what the app got
    back. `ids`: each turn inside `convtrack.conversation(f"{user}-chat")`. `as_text`: a
    structured answer is resent as its JSON text, else as the model gave it (its tool call,
    answered by a tool message, as instructor's own retries do)."""
    with openai.OpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0) as raw:
        client = instructor.from_openai(raw)
        histories: dict[str, list[Any]] = {user: [] for user in USERS}
        results: dict[str, list[Any]] = {user: [] for user in USERS}
        for turn, kind in enumerate(TURNS):
            for user in USERS:
                history = histories[user]
                history.append({"role": "user", "content": prompt(user, turn)})
                scope = convtrack.conversation(f"{user}-chat") if ids else nullcontext()
                with scope:
                    results[user].append(_turn(client, kind, history, as_text))
        return results


def _turn(client: instructor.Instructor, kind: str, history: list[Any], as_text: bool) -> Any:
    """One turn (its answer appended to `history`): a structured answer, a tool called with
    one then the model's answer, or the structured answer streamed (its partial states)."""
    if kind == "stream":
        partials = client.chat.completions.create_partial(
            model=MODEL,
            response_model=Lookup,
            messages=history,
            stream_options={"include_usage": True},
        )
        states = [partial.model_dump() for partial in partials]
        history.append({"role": "assistant", "content": json.dumps(states[-1])})
        return states
    found, completion = client.chat.completions.create_with_completion(
        model=MODEL, response_model=Lookup, messages=history
    )
    if kind != "tool" and as_text:
        history.append({"role": "assistant", "content": found.model_dump_json()})
        return found.model_dump()
    (call,) = completion.choices[0].message.tool_calls or []
    history.append({"role": "assistant", "content": None, "tool_calls": [call.model_dump()]})
    if kind != "tool":
        history.append({"role": "tool", "tool_call_id": call.id, "content": "noted"})
        return found.model_dump()
    history.append({"role": "tool", "tool_call_id": call.id, "content": lookup(found.query)})
    answer = client.chat.completions.create(model=MODEL, response_model=None, messages=history)
    text = answer.choices[0].message.content
    history.append({"role": "assistant", "content": text})
    return text


def final_answers(results: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Each turn's answer (a streamed turn's last state)."""
    return {
        user: [
            answer[-1] if kind == "stream" else answer
            for answer, kind in zip(got, TURNS, strict=True)
        ]
        for user, got in results.items()
    }


def expected_answers() -> dict[str, list[Any]]:
    """What the fake server answers: the query asked for (it fills a tool's arguments with
    the user's words), the tool's result echoed."""
    return {
        user: [
            {"query": prompt(user, 0)},
            f"tool said: {lookup(prompt(user, 1))}",
            {"query": prompt(user, 2)},
        ]
        for user in USERS
    }


def check_model_calls(runs: list[Run]) -> None:
    """Every request is one recorded call with its answer: the structured ones as their tool
    call (the user's words as its arguments), the tool turn's second one as its text."""
    outputs = recorded_outputs(runs, REQUESTS)
    for user in USERS:
        for turn in range(len(TURNS)):
            asked = json.dumps({"query": prompt(user, turn)})
            assert len([text for text in outputs if asked in text]) == 1, asked
        answer = f"tool said: {lookup(prompt(user, 1))}"
        assert len([text for text in outputs if answer in text]) == 1, answer


def app_results_unchanged(server: FakeLLMServer, ids: bool, turn_on: Callable[[], Any]) -> None:
    """The app's results with convtrack on are those of a run without it."""
    reference = instructor_app(server, ids)
    assert final_answers(reference) == expected_answers()
    turn_on()
    assert instructor_app(server, ids) == reference


@pytest.mark.parametrize("ids", IDS)
def test_without_convtrack_the_app_gets_its_answers(
    ids: bool, server: FakeLLMServer, captured: CapturedRuns
) -> None:
    """The app's answers with nothing instrumented: the fake server's, nothing recorded."""
    assert final_answers(instructor_app(server, ids)) == expected_answers()
    assert not captured.runs


@pytest.mark.parametrize("ids", IDS)
def test_with_the_openai_sdk_instrumented(
    ids: bool, server: FakeLLMServer, captured: CapturedRuns
) -> None:
    """convtrack-openai: every model call once with its answer, one conversation a user (the
    app's when it names one), the app's results unchanged."""
    app_results_unchanged(server, ids, convtrack_openai.instrument)
    runs = list(captured.runs)
    check_model_calls(runs)
    named = {user: f"{user}-chat" for user in USERS} if ids else None
    check_one_conversation_per_user(conversations_of(runs, user_in), named)


@pytest.mark.parametrize("ids", IDS)
def test_with_everything_instrumented(
    ids: bool, server: FakeLLMServer, captured: CapturedRuns
) -> None:
    """Every installed integration and threads too: the same calls, once each, in the same
    conversations, the app's results unchanged."""

    def everything() -> None:
        convtrack.instrument()
        convtrack.instrument_threading()

    app_results_unchanged(server, ids, everything)
    runs = list(captured.runs)
    check_model_calls(runs)
    assert len(runs) == REQUESTS
    named = {user: f"{user}-chat" for user in USERS} if ids else None
    check_one_conversation_per_user(conversations_of(runs, user_in), named)


def test_structured_answers_resent_as_text_need_the_conversation_named(
    server: FakeLLMServer, captured: CapturedRuns
) -> None:
    """A structured answer resent as JSON text is not the tool call the model made: the next
    turn starts a new conversation, unless the app names one (the README's recipe)."""
    convtrack_openai.instrument()
    answers = instructor_app(server, False, as_text=True)
    assert final_answers(answers) == expected_answers()
    runs = list(captured.runs)
    check_model_calls(runs)
    for user in USERS:
        mine = [run for run in runs if user_in(run) == user]
        (first,) = [run for run in mine if prompt(user, 1) not in repr(run.inputs)]
        later = {run.conversation_id for run in mine if run is not first}
        assert len(later) == 1
        assert first.conversation_id not in later
    found = conversations_of(runs, user_in)
    assert found[USERS[0]].isdisjoint(found[USERS[1]])
    captured.clear()
    assert instructor_app(server, True, as_text=True) == answers
    runs = list(captured.runs)
    check_model_calls(runs)
    named = {user: f"{user}-chat" for user in USERS}
    check_one_conversation_per_user(conversations_of(runs, user_in), named)
