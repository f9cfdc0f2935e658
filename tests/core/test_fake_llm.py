"""convtrack.fake_llm: a local OpenAI/Anthropic-compatible server over real HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from convtrack.fake_llm import FakeLLMServer, FakeRequest


@pytest.fixture(scope="module")
def _server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def server(_server: FakeLLMServer) -> FakeLLMServer:
    """The server, with an empty log and no failure queued."""
    _server.clear()
    return _server


def post(url: str, body: Any) -> tuple[int, str]:
    """POST JSON; return (status, response text)."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def sse(text: str) -> list[tuple[str | None, str]]:
    """The (event, data) pairs of a server-sent-events body."""
    events = []
    for frame in text.strip().split("\n\n"):
        name = None
        data = ""
        for line in frame.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
        events.append((name, data))
    return events


CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello there"}]}


def test_it_serves_on_a_free_loopback_port_until_stopped() -> None:
    """The URLs point at 127.0.0.1:<port>; after stop() nothing listens there."""
    server = FakeLLMServer()
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.url
    with server:
        assert server.url.startswith("http://127.0.0.1:")
        assert server.openai_base_url == server.url + "/v1"
        assert server.anthropic_base_url == server.url
        url = server.openai_base_url + "/chat/completions"
        assert post(url, CHAT)[0] == 200
    with pytest.raises(urllib.error.URLError):
        post(url, CHAT)


def test_chat_completion_echoes_deterministically(server: FakeLLMServer) -> None:
    """The answer echoes the last user message with the turn number; usage counts words."""
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "echo #1: hi"},
        {"role": "user", "content": [{"type": "text", "text": "hello there"}]},
    ]
    status, text = post(
        server.openai_base_url + "/chat/completions", {**CHAT, "messages": messages}
    )
    body = json.loads(text)
    assert status == 200
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "echo #2: hello there"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 15, "completion_tokens": 4, "total_tokens": 19}


def test_chat_stream_sends_chunks_then_done(server: FakeLLMServer) -> None:
    """A streamed chat completion is data-only SSE chunks, a usage chunk on request, [DONE]."""
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    status, text = post(server.openai_base_url + "/chat/completions", body)
    events = sse(text)
    assert status == 200
    assert events[-1] == (None, "[DONE]")
    chunks = [json.loads(data) for _, data in events[:-1]]
    deltas = [c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]]
    assert "".join(deltas) == "echo #1: hello there"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] == 9


def test_tools_make_a_tool_call_and_tool_results_are_answered(server: FakeLLMServer) -> None:
    """With tools, a user turn gets a call of the first tool; a tool result is echoed."""
    tools = [{"type": "function", "function": {"name": "lookup"}}]
    url = server.openai_base_url + "/chat/completions"
    message = json.loads(post(url, {**CHAT, "tools": tools})[1])["choices"][0]["message"]
    (call,) = message["tool_calls"]
    assert call["function"] == {"name": "lookup", "arguments": '{"query": "hello there"}'}
    result = {"role": "tool", "tool_call_id": call["id"], "content": "42"}
    messages = [*CHAT["messages"], message, result]
    answer = json.loads(post(url, {**CHAT, "messages": messages, "tools": tools})[1])
    assert answer["choices"][0]["message"]["content"] == "tool said: 42"


def test_responses_answer_a_tool_result_only_at_the_end_of_the_input(
    server: FakeLLMServer,
) -> None:
    """A Responses input ending with a function_call_output is answered with it; a later
    user turn (the tool turn far back in its history) gets a new tool call."""
    url = server.openai_base_url + "/responses"
    tools = [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]
    body: dict[str, Any] = {"model": "m", "input": "find x", "tools": tools}
    (call,) = json.loads(post(url, body)[1])["output"]
    history = [{"role": "user", "content": "find x"}, call]
    history.append({"type": "function_call_output", "call_id": call["call_id"], "output": "7"})
    (answer,) = json.loads(post(url, {**body, "input": history})[1])["output"]
    assert answer["content"][0]["text"] == "tool said: 7"
    history += [answer, {"role": "user", "content": "find y"}]
    (again,) = json.loads(post(url, {**body, "input": history})[1])["output"]
    assert again["type"] == "function_call"
    assert json.loads(again["arguments"]) == {"query": "find y"}


def test_messages_stream_has_the_anthropic_event_sequence(server: FakeLLMServer) -> None:
    """A streamed Messages call sends the named events Anthropic's API sends."""
    body = {"model": "c", "max_tokens": 9, "messages": CHAT["messages"], "stream": True}
    status, text = post(server.anthropic_base_url + "/v1/messages", body)
    names = [name for name, _ in sse(text)]
    assert status == 200
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


def test_responses_count_turns_along_previous_response_id(server: FakeLLMServer) -> None:
    """previous_response_id continues a stored response; an unknown one is a 400."""
    url = server.openai_base_url + "/responses"
    first = json.loads(post(url, {"model": "m", "input": "hi"})[1])
    second = json.loads(
        post(url, {"model": "m", "input": "yo", "previous_response_id": first["id"]})[1]
    )
    assert second["output"][0]["content"][0]["text"] == "echo #2: yo"
    status, text = post(url, {"model": "m", "input": "x", "previous_response_id": "resp_x"})
    assert status == 400
    assert "resp_x" in json.loads(text)["error"]["message"]


def test_responses_stream_ends_with_response_completed(server: FakeLLMServer) -> None:
    """A streamed response ends with `response.completed` carrying the full response."""
    text = post(
        server.openai_base_url + "/responses", {"model": "m", "input": "hi", "stream": True}
    )[1]
    name, data = sse(text)[-1]
    assert name == "response.completed"
    assert json.loads(data)["response"]["status"] == "completed"


def test_fail_next_and_the_magic_message_return_api_errors(server: FakeLLMServer) -> None:
    """fail_next(status, times=n) fails n requests; `[fail:NNN]` fails one; bodies per API."""
    server.fail_next(503, "down", times=2)
    chat_url = server.openai_base_url + "/chat/completions"
    assert post(chat_url, CHAT)[0] == 503
    status, text = post(server.anthropic_base_url + "/v1/messages", {"messages": []})
    assert status == 503
    assert json.loads(text) == {"type": "error", "error": {"type": "api_error", "message": "down"}}
    assert post(chat_url, CHAT)[0] == 200
    failing = {**CHAT, "messages": [{"role": "user", "content": "hi [fail:429]"}]}
    status, text = post(chat_url, failing)
    assert status == 429
    assert json.loads(text)["error"]["type"] == "rate_limit_error"


def test_stream_error_fails_after_the_first_text_delta(server: FakeLLMServer) -> None:
    """`[stream-error]` sends one text delta, then the API's in-stream error."""
    body = {"model": "c", "max_tokens": 9, "stream": True}
    body["messages"] = [{"role": "user", "content": "x [stream-error]"}]
    events = sse(post(server.anthropic_base_url + "/v1/messages", body)[1])
    assert [name for name, _ in events][-2:] == ["content_block_delta", "error"]


def test_requests_are_logged(server: FakeLLMServer) -> None:
    """Each request is logged with its path, lower-cased headers and JSON body."""
    post(server.openai_base_url + "/chat/completions", CHAT)
    (request,) = server.requests
    assert isinstance(request, FakeRequest)
    assert (request.method, request.path, request.body) == ("POST", "/v1/chat/completions", CHAT)
    assert request.headers["content-type"] == "application/json"
    server.clear()
    assert server.requests == []


def test_unknown_paths_are_404(server: FakeLLMServer) -> None:
    """A path the server does not serve answers 404 with an API error body."""
    status, text = post(server.url + "/v1/embeddings", {"input": "x"})
    assert status == 404
    assert "error" in json.loads(text)


def test_a_client_resetting_its_connection_prints_nothing(
    server: FakeLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A kept-alive connection closed by the client is normal; other handler errors print."""
    httpd = server._httpd
    assert httpd is not None
    try:
        raise ConnectionResetError(104, "Connection reset by peer")
    except ConnectionResetError:
        httpd.handle_error(None, ("127.0.0.1", 1))
    assert capsys.readouterr().err == ""
    try:
        raise ValueError("a real bug")
    except ValueError:
        httpd.handle_error(None, ("127.0.0.1", 1))
    assert "ValueError: a real bug" in capsys.readouterr().err
