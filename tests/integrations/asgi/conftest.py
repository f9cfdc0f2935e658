"""Fixtures for the ASGI middleware tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgi_support import ROUTES, answer, seen
from convtrack_asgi import ConversationMiddleware
from fastapi import FastAPI
from starlette.applications import Starlette

import convtrack
from convtrack.testing import CapturedRuns, capture_runs


@pytest.fixture(autouse=True)
def _shutdown_convtrack() -> Iterator[None]:
    """Stop whatever pipeline a test configured, so the next one starts unconfigured."""
    yield
    convtrack.shutdown()


@pytest.fixture
def captured() -> Iterator[CapturedRuns]:
    """Record runs in memory (automatic grouping off) for the test."""
    with capture_runs(grouping=False) as runs:
        yield runs


@pytest.fixture
def make_app() -> Callable[..., Starlette]:
    """Build a Starlette app with the middleware added via `add_middleware(**options)`."""

    def build(**options: Any) -> Starlette:
        app = Starlette(routes=ROUTES)
        app.add_middleware(ConversationMiddleware, **options)
        return app

    return build


@pytest.fixture
def make_fastapi() -> Callable[..., FastAPI]:
    """Build a FastAPI app (async and sync endpoints) behind the middleware."""

    def build(**options: Any) -> FastAPI:
        app = FastAPI()
        app.add_middleware(ConversationMiddleware, **options)

        @app.get("/async/{item_id}")
        async def async_endpoint(item_id: int) -> dict[str, Any]:
            return {"item": item_id, **seen(), "answer": answer("async")}

        @app.get("/sync")
        def sync_endpoint() -> dict[str, Any]:
            return {**seen(), "answer": answer("sync")}

        return app

    return build
