"""The front service: the web tier a user talks to; it calls the agent service over httpx.

Served by `run.py` as `uvicorn front:app`. `convtrack_http.instrument(hosts=[...])` makes
its httpx requests to the agent carry the conversation (`x-conversation-id`) and the calling
run (W3C `baggage`); only the hosts listed get them.
"""

from __future__ import annotations

import os
from typing import Any

import convtrack_http
import httpx
from convtrack_asgi import ConversationMiddleware
from fastapi import FastAPI

import convtrack

AGENT_URL = os.environ.get("AGENT_URL", "http://127.0.0.1:8001")

convtrack.configure([convtrack.SQLiteSink(os.environ.get("SERVICES_DB", "convtrack.db"))])
convtrack_http.instrument(hosts=[httpx.URL(AGENT_URL).host])

app = FastAPI(title="front service")
app.add_middleware(ConversationMiddleware)


@app.get("/health")
def health() -> dict[str, str]:
    """Ready."""
    return {"status": "ok"}


@convtrack.trace(kind="tool")
async def ask_agent(question: str) -> dict[str, Any]:
    """Call the agent service (the request carries the conversation and this run)."""
    async with httpx.AsyncClient(base_url=AGENT_URL, timeout=30) as agent:
        response = await agent.post("/answer", json={"question": question})
        response.raise_for_status()
        reply: dict[str, Any] = response.json()
        return reply


@app.post("/chat")
async def chat(body: dict[str, str]) -> dict[str, Any]:
    """One chat turn: the agent answers."""
    return await ask_agent(body["message"])
