"""A real uvicorn stopped with SIGTERM mid-load: every answered request's run is stored."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

import convtrack

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals")

APP = """
import asyncio
import convtrack
from convtrack_asgi import ConversationMiddleware

# runs would wait 60 s in the queue: only a flush at shutdown gets them stored
convtrack.configure([convtrack.SQLiteSink("runs.db")], grouping=False, export_interval=60)


async def inner(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await asyncio.sleep(2.0)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


app = ConversationMiddleware(inner)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SERVERS = {
    # with the lifespan, the middleware flushes; without it, the SIGTERM handler does
    "uvicorn, lifespan on": ["-m", "uvicorn", "app:app", "--lifespan", "on", "--port"],
    "uvicorn, lifespan off": ["-m", "uvicorn", "app:app", "--lifespan", "off", "--port"],
    # each worker: the lifespan; with --preload, convtrack was configured before the fork
    "gunicorn --preload, 2 uvicorn workers": [
        "-m",
        "gunicorn",
        "app:app",
        "--preload",
        "-w",
        "2",
        "-k",
        "uvicorn_worker.UvicornWorker",
        "--graceful-timeout",
        "20",
        "-b",
    ],
}


@pytest.mark.parametrize("server_args", SERVERS.values(), ids=SERVERS.keys())
def test_sigterm_mid_load_loses_no_answered_request(tmp_path: Path, server_args: list[str]) -> None:
    """Every request answered while the server stops on SIGTERM has its run in the store."""
    if "gunicorn" in server_args and importlib.util.find_spec("uvicorn_worker") is None:
        pytest.skip("gunicorn with uvicorn workers is not installed")
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    port = _free_port()
    bind = f"127.0.0.1:{port}" if "gunicorn" in server_args else str(port)
    server = subprocess.Popen(
        [sys.executable, *server_args, bind],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/chat"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url, timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        answered: list[int] = []

        def client() -> None:
            try:
                response = httpx.get(url, headers={"x-conversation-id": "load"}, timeout=10)
            except httpx.TransportError:
                return  # refused: the server was stopping
            if response.status_code == 200:
                answered.append(1)

        threads = [threading.Thread(target=client) for _ in range(40)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)  # the requests are in flight (each takes 2 s)
        server.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join()
        output, _ = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert len(answered) >= 10, output
    store = convtrack.SQLiteSink(tmp_path / "runs.db", create=False)
    try:
        runs = store.runs("load")
    finally:
        store.close()
    assert len(runs) == len(answered), output
