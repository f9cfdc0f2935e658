"""The agent service: answers with an LLM (a local fake one) and queues a Celery task.

Served by `run.py` as `uvicorn agent:app`. `ConversationMiddleware` reads the conversation
and the calling run from the request (`x-conversation-id`, W3C `baggage`), so this
service's runs join the front service's conversation, nested under the call that caused them.
"""

from __future__ import annotations

import os
from typing import Any

import convtrack_openai
import openai
from convtrack_asgi import ConversationMiddleware
from fastapi import FastAPI
from tasks import summarize

import convtrack
from convtrack.fake_llm import FakeLLMServer

convtrack.configure([convtrack.SQLiteSink(os.environ.get("SERVICES_DB", "convtrack.db"))])
convtrack_openai.instrument()

llm = FakeLLMServer().start()  # offline: a local OpenAI-compatible server
client = openai.OpenAI(base_url=llm.openai_base_url, api_key="fake")

app = FastAPI(title="agent service")
app.add_middleware(ConversationMiddleware)


@app.get("/health")
def health() -> dict[str, str]:
    """Ready."""
    return {"status": "ok"}


@convtrack.trace(kind="chain")
def queue_summary(text: str) -> dict[str, Any]:
    """Hand the slow part to a Celery worker and wait for it (bounded)."""
    result: dict[str, Any] = summarize.delay(text).get(timeout=20)
    return result


@app.post("/answer")
def answer(body: dict[str, str]) -> dict[str, Any]:
    """Answer a question: one LLM call, then a task on the worker."""
    reply = client.chat.completions.create(
        model="gpt-fake", messages=[{"role": "user", "content": body["question"]}]
    )
    text = reply.choices[0].message.content or ""
    return {
        "answer": text,
        "summary": queue_summary(text),
        "conversation_id": convtrack.get_conversation_id(),
    }
