"""A local, deterministic OpenAI- and Anthropic-compatible server for examples, demos and tests.

``FakeLLMServer`` serves real HTTP on 127.0.0.1 (a free port) from a daemon thread, with
the standard library only, so the official ``openai`` and ``anthropic`` clients talk to it
unchanged::

    from convtrack.fake_llm import FakeLLMServer

    with FakeLLMServer() as server:
        client = openai.OpenAI(base_url=server.openai_base_url, api_key="fake")
        client.chat.completions.create(model="gpt-fake", messages=[...])
        claude = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="fake")

Endpoints: ``POST /v1/chat/completions``, ``POST /v1/responses`` (OpenAI) and
``POST /v1/messages`` (Anthropic), each with ``stream: true`` answered as server-sent
events of the real shapes (chunks ending with ``[DONE]``; Responses and Messages events).

Answers are deterministic: ``"echo #N: <last user text>"``, N being the turn (the number
of user messages, or the length of a ``previous_response_id`` chain). When the request
offers ``tools`` and ends with a user message, the answer is a call of the first tool
with ``{"query": <last user text>}``; when the request ends with a tool result the answer
is ``"tool said: <result>"``. Usage counts words. Errors: ``fail_next(status)``, or a user
message containing ``[fail:429]`` (any status); ``[stream-error]`` makes a stream fail
after its first text delta. Every request is logged in ``requests``.
"""

from __future__ import annotations

from ._server import FakeLLMServer, FakeRequest

__all__ = ["FakeLLMServer", "FakeRequest"]
