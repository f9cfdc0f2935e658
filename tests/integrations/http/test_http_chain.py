"""Two convtrack services chain with no configuration: convtrack-http out, convtrack-asgi in."""

from __future__ import annotations

import convtrack_http
import httpx
from convtrack_asgi import ConversationMiddleware
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import convtrack
from convtrack.testing import CapturedRuns


@convtrack.trace()
def answer() -> str:
    """The agent's work."""
    return f"answered in {convtrack.get_conversation_id()}"


async def agent_endpoint(request: Request) -> Response:
    """The agent service: answers inside the conversation the caller sent."""
    return JSONResponse({"answer": answer(), "conversation_id": convtrack.get_conversation_id()})


AGENT = Starlette(routes=[Route("/answer", agent_endpoint)])
AGENT.add_middleware(ConversationMiddleware)


@convtrack.trace()
async def call_agent() -> dict[str, str]:
    """The front service's step that calls the agent service over HTTP."""
    transport = httpx.ASGITransport(app=AGENT)
    async with httpx.AsyncClient(transport=transport, base_url="http://agent") as client:
        reply: dict[str, str] = (await client.get("/answer")).json()
        return reply


async def front_endpoint(request: Request) -> Response:
    """The front service: calls the agent."""
    return JSONResponse(await call_agent())


FRONT = Starlette(routes=[Route("/chat", front_endpoint)])
FRONT.add_middleware(ConversationMiddleware)


async def test_the_agent_serves_the_front_conversation_nested_under_the_call(
    captured: CapturedRuns,
) -> None:
    """One conversation id from the first request; the agent's runs nest under the call."""
    convtrack_http.instrument()
    transport = httpx.ASGITransport(app=FRONT)
    async with httpx.AsyncClient(transport=transport, base_url="http://front") as client:
        response = await client.get("/chat")
    cid = response.headers["x-conversation-id"]
    assert response.json()["conversation_id"] == cid
    convtrack.flush()
    runs = {(run.source, run.name.rpartition(".")[2]): run for run in captured.runs}
    front = runs["asgi", "GET /chat"]
    call = runs["trace", "call_agent"]
    agent = runs["asgi", "GET /answer"]
    work = runs["trace", "answer"]
    assert {run.conversation_id for run in captured.runs} == {cid}
    assert call.parent_run_id == front.run_id
    assert agent.parent_run_id == call.run_id
    assert work.parent_run_id == agent.run_id
    assert {run.root_run_id for run in captured.runs} == {front.run_id}
