"""Fixtures for the viewer: a store filled by the demo, the app over it, an httpx client."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from convtrack_demo import run_demo
from starlette.applications import Starlette

from convtrack.viewer import create_app


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store filled once by the demo workload (copied, never written, by the tests)."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    run_demo(str(path))
    return path


@pytest.fixture
def demo_db(demo_template: Path, tmp_path: Path) -> Path:
    """A private copy of the demo store, which the test may write to."""
    path = tmp_path / "demo.db"
    shutil.copyfile(demo_template, path)
    return path


@pytest.fixture
def app(demo_db: Path) -> Iterator[Starlette]:
    """The viewer over the demo store (its connections closed afterwards)."""
    viewer = create_app(demo_db)
    yield viewer
    viewer.state.store.close()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client calling the viewer in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
