"""Three processes, one conversation: front service -> agent service (httpx) -> Celery task.

Starts a redis-server (the Celery broker), a Celery worker and two uvicorn services, sends
two chat turns to the front service, stops everything, then prints the conversation as the
shared SQLite store holds it: one conversation id from the first request, and one run tree
crossing the three processes (each remote run nested under the call that caused it).
Runs offline (the LLM is a local fake) and is bounded (about 30 s at most)::

    python examples/services/run.py
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

import convtrack
from convtrack import Run

HERE = Path(__file__).resolve().parent
DEADLINE = 30.0  # seconds any one process may take to start


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def process(args: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """Run `args` in HERE until the block ends, then stop it (SIGTERM: runs are flushed)."""
    proc = subprocess.Popen(args, cwd=HERE, env=env, stdout=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until(ready: object, what: str, proc: subprocess.Popen[bytes]) -> None:
    """Poll `ready()` until it is true (the process must stay up, within DEADLINE)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            if ready():  # type: ignore[operator]
                return
        except (OSError, httpx.HTTPError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start")
        time.sleep(0.1)


def serving(url: str) -> bool:
    """Whether a service answers its health check."""
    return httpx.get(f"{url}/health", timeout=1).status_code == 200


def broker_up(port: int) -> bool:
    """Whether redis-server accepts connections."""
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


def worker_up(env: dict[str, str]) -> bool:
    """Whether the Celery worker answers a ping."""
    ping = [sys.executable, "-m", "celery", "-A", "tasks", "inspect", "ping", "--timeout=1"]
    done = subprocess.run(ping, cwd=HERE, env=env, capture_output=True, timeout=15, check=False)
    return done.returncode == 0


def print_tree(runs: list[Run]) -> None:
    """The conversation's runs as a tree (children under their parent, by start time)."""
    children: dict[str | None, list[Run]] = {}
    ids = {run.run_id for run in runs}
    for run in sorted(runs, key=lambda r: r.started_at):
        parent = run.parent_run_id if run.parent_run_id in ids else None
        children.setdefault(parent, []).append(run)

    def show(parent: str | None, depth: int) -> None:
        for run in children.get(parent, []):
            print(f"{'    ' * depth}{run.kind} {run.name}  [{run.source}]")
            show(run.run_id, depth + 1)

    show(None, 1)


def check(runs: list[Run]) -> None:
    """Exit with an error unless the runs form the expected cross-process trees."""
    by_id = {run.run_id: run for run in runs}

    def parent_of(run: Run) -> Run:
        parent = by_id.get(run.parent_run_id or "")
        if parent is None:
            raise SystemExit(f"{run.kind} {run.name}: its parent is not in the conversation")
        return parent

    agents = [r for r in runs if r.name == "POST /answer"]
    tasks = [r for r in runs if r.name == "services.summarize"]
    if len(agents) != 2 or len(tasks) != 2:
        raise SystemExit(f"expected 2 agent requests and 2 tasks, got {len(agents)}, {len(tasks)}")
    for agent in agents:
        assert parent_of(agent).name.endswith("ask_agent"), "the agent's run is not nested"
    for task in tasks:
        assert parent_of(task).name.endswith("queue_summary"), "the task's run is not nested"
    assert len({r.root_run_id for r in runs}) == 2, "one tree per chat turn"


def main() -> None:
    """Start the services, chat twice, stop them, show the conversation."""
    redis = shutil.which("redis-server")
    if redis is None:
        raise SystemExit("this example needs redis-server (apt-get install redis-server)")
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        db = Path(tmp) / "services.db"
        broker_port, agent_port, front_port = free_port(), free_port(), free_port()
        front_url = f"http://127.0.0.1:{front_port}"
        agent_url = f"http://127.0.0.1:{agent_port}"
        env = {
            **os.environ,
            "SERVICES_DB": str(db),
            "SERVICES_BROKER": f"redis://127.0.0.1:{broker_port}/0",
            "AGENT_URL": agent_url,
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        }
        redis_args = [redis, "--port", str(broker_port), "--bind", "127.0.0.1", "--save", ""]
        broker = stack.enter_context(process(redis_args, env))
        wait_until(lambda: broker_up(broker_port), "redis-server", broker)
        with ExitStack() as services:  # closed before the store is read: runs flushed
            celery = [sys.executable, "-m", "celery", "-A", "tasks", "worker", "--pool=solo"]
            worker = services.enter_context(process([*celery, "--loglevel=WARNING"], env))
            wait_until(lambda: worker_up(env), "the Celery worker", worker)
            for name, port in (("agent", agent_port), ("front", front_port)):
                uvicorn = [sys.executable, "-m", "uvicorn", f"{name}:app", "--port", str(port)]
                proc = services.enter_context(process([*uvicorn, "--log-level", "warning"], env))
                wait_until(lambda url=f"http://127.0.0.1:{port}": serving(url), name, proc)
            first = httpx.post(f"{front_url}/chat", json={"message": "hello there"}, timeout=30)
            cid = first.headers["x-conversation-id"]
            second = httpx.post(
                f"{front_url}/chat",
                json={"message": "and a follow-up"},
                headers={"x-conversation-id": cid},
                timeout=30,
            )
            print(f"turn 1: {first.json()['answer']}")
            print(f"turn 2: {second.json()['answer']}")
        store = convtrack.SQLiteSink(db, create=False)
        runs = store.runs(cid)
        store.close()
        print(f"conversation {cid}: {len(runs)} runs from 3 processes")
        print_tree(runs)
        check(runs)


if __name__ == "__main__":
    main()
