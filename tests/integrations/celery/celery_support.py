"""A real Celery worker process for the convtrack-celery tests, and reading what it recorded."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import Celery

import convtrack
from convtrack import Run

HERE = Path(__file__).parent


class Worker:
    """`celery worker` (solo pool) on the tasks of `celery_tasks`, recording into `db`."""

    def __init__(self, broker: str, db: Path) -> None:
        self.broker = broker
        self.db = db
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, app: Celery) -> None:
        """Start the worker and wait until it answers a ping."""
        env = {**os.environ, "CONVTRACK_TEST_BROKER": self.broker}
        env["CONVTRACK_TEST_DB"] = str(self.db)
        env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
        command = [sys.executable, "-m", "celery", "-A", "celery_tasks", "worker"]
        options = ["--pool=solo", "--loglevel=WARNING", "--without-heartbeat", "--without-mingle"]
        self.proc = subprocess.Popen(
            [*command, *options, "--without-gossip"],
            cwd=HERE,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("the Celery worker did not start")

    def stop(self) -> None:
        """Stop the worker (warm shutdown: it flushes its runs), killing it if it hangs."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def worker_runs(db: Path, task_id: str, count: int, timeout: float = 20.0) -> list[Run]:
    """The worker's runs of one task (its task runs and everything under them), once `count`
    task runs are stored, oldest first."""
    deadline = time.monotonic() + timeout
    while True:
        if db.exists():
            store = convtrack.SQLiteSink(db, create=False)
            try:
                runs = store.runs()
            finally:
                store.close()
            tasks = [r for r in runs if r.metadata.get("task_id") == task_id]
            if len(tasks) >= count:
                ids = {r.run_id for r in tasks}
                nested = [r for r in runs if r.parent_run_id in ids]
                return sorted([*tasks, *nested], key=lambda r: r.started_at)
        if time.monotonic() > deadline:
            pytest.fail(f"the worker stored fewer than {count} runs of task {task_id}")
        time.sleep(0.05)


def free_port_url() -> str:
    """A Redis URL on a loopback port nothing listens on (a broker that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"
