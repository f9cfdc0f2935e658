"""One replica of a chat app: ConversationMiddleware, the OpenAI SDK instrumented, automatic
grouping shared through Redis, every run written to one PostgreSQL store.

The client sends no conversation id (`generate=False`: none is made up per request), so each
chat's turns are grouped by their message history, which every replica finds in Redis
(hashed with the shared secret). Configured by the environment: `CONVTRACK_STORE` (a store
URL), `REDIS_URL`, `CONVTRACK_GROUPING_SECRET`, `FAKE_LLM_URL` (an OpenAI-compatible base
URL), `REPLICA` (a name). Serve with `uvicorn app:app` (see `run.py`).
"""

from __future__ import annotations

import os

import convtrack_openai
import openai
import redis
from convtrack_asgi import ConversationMiddleware
from convtrack_redis import RedisStore
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import convtrack
from convtrack.grouping import ConversationGrouper

convtrack.configure(
    sinks=[os.environ["CONVTRACK_STORE"]],
    grouping=ConversationGrouper(RedisStore(redis.Redis.from_url(os.environ["REDIS_URL"]))),
    export_interval=0.1,
)
convtrack_openai.instrument()
client = openai.AsyncOpenAI(base_url=os.environ["FAKE_LLM_URL"], api_key="not-needed")


async def chat(request: Request) -> JSONResponse:
    """Answer the last message of the history the client sends."""
    body = await request.json()
    completion = await client.chat.completions.create(
        model="gpt-4o-mini", messages=body["messages"], user=body.get("user")
    )
    answer = completion.choices[0].message
    return JSONResponse({"role": "assistant", "content": answer.content or ""})


app = ConversationMiddleware(
    Starlette(routes=[Route("/chat", chat, methods=["POST"])]), generate=False
)
