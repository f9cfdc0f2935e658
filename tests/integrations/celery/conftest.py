"""A real redis-server and a real Celery worker for the convtrack-celery tests."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from pathlib import Path

import convtrack_celery
import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "redis"))  # redis_support: the server

import celery_tasks
from celery_support import Worker
from redis_support import RedisServer, free_port, redis_exe

# The broker's address is chosen now, before the app first connects (it keeps its pools).
PORT = free_port()
BROKER = f"redis://127.0.0.1:{PORT}/0"
celery_tasks.app.conf.update(broker_url=BROKER, result_backend=BROKER)


@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    """A redis-server for the session, as broker and result backend (its URL)."""
    server = RedisServer(redis_exe(), PORT)
    server.start()
    try:
        yield BROKER
    finally:
        gc.collect()  # results in reference cycles let go of the backend while it still answers
        server.stop()


@pytest.fixture(scope="session")
def worker(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """A Celery worker process running `celery_tasks`, recording into its own SQLite store."""
    running = Worker(broker, tmp_path_factory.mktemp("celery") / "worker.db")
    running.start(celery_tasks.app)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(autouse=True)
def _instrumented() -> Iterator[None]:
    """The sending side is instrumented in each test (undone after it)."""
    convtrack_celery.instrument()
    yield
    convtrack_celery.uninstrument()
