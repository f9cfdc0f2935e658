"""Two replicas of one app, a client alternating between them every turn, one store.

Starts two uvicorn processes serving `app.py` (each its own convtrack pipeline), a local fake
OpenAI server, then chats three conversations of three turns, sending each turn to the other
replica. Finally the replicas stop (flushing their runs) and the store is read back: each
conversation appears once, with all its turns, whichever replica served them.

    python examples/replicas/run.py --store postgresql://user:pw@localhost/app --redis redis://localhost:6379/0

Needs convtrack-postgres, convtrack-redis, convtrack-asgi, convtrack-openai, uvicorn.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from convtrack.fake_llm import FakeLLMServer
from convtrack.sinks import open_store

HERE = Path(__file__).resolve().parent
CHATS = {
    "ana": ["How long do I boil an egg?", "And for a soft yolk?", "Thanks!"],
    "ben": ["Can I freeze fresh basil?", "In oil or in water?", "For how long?"],
    "eva": ["What is a roux?", "Butter or oil?", "Which flour?"],
}


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_replica(name: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """A uvicorn process serving app.py; returns it and its base URL once it answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--port", str(port), "--log-level",
         "warning", "--lifespan", "on"],
        cwd=HERE,
        env={**env, "REPLICA": name},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/", timeout=0.5)
            return process, url
        except httpx.TransportError:
            if process.poll() is not None:
                raise SystemExit(f"replica {name} exited ({process.returncode})") from None
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"replica {name} did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="store URL, e.g. postgresql://...")
    parser.add_argument("--redis", required=True, help="Redis URL, e.g. redis://localhost")
    args = parser.parse_args()
    with FakeLLMServer() as llm:
        env = {
            **os.environ,
            "CONVTRACK_STORE": args.store,
            "REDIS_URL": args.redis,
            "CONVTRACK_GROUPING_SECRET": secrets.token_hex(32),  # the same for both replicas
            "FAKE_LLM_URL": llm.openai_base_url,
        }
        replicas = [start_replica(name, env) for name in ("replica-a", "replica-b")]
        try:
            histories = {user: [] for user in CHATS}  # type: ignore[var-annotated]
            turn = 0
            for step in range(3):
                for user, questions in CHATS.items():
                    _, url = replicas[turn % 2]  # every turn to the other replica
                    turn += 1
                    histories[user].append({"role": "user", "content": questions[step]})
                    reply = httpx.post(
                        url + "/chat", json={"messages": histories[user], "user": user}, timeout=30
                    )
                    reply.raise_for_status()
                    histories[user].append(reply.json())
        finally:
            for process, _ in replicas:  # a graceful stop flushes each replica's runs
                process.send_signal(signal.SIGINT)
            for process, _ in replicas:
                process.wait(30)
    store = open_store(args.store, create=False)
    try:
        for summary in store.conversations(None):
            print(
                f"{summary.conversation_id}  {summary.llm_count} LLM calls"
                f"  first: {summary.first_input!r}  last: {summary.last_output!r}"
            )
    finally:
        store.close()


if __name__ == "__main__":
    main()
