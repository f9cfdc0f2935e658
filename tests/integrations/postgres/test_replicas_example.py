"""examples/replicas: two app replicas, turns alternating between them, one PostgreSQL store:
each conversation recorded once, whole."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pg_support import fresh_schema

sys.path.insert(0, str(Path(__file__).parents[1] / "redis"))
from redis_support import RedisServer, free_port, redis_exe

EXAMPLE = Path(__file__).parents[3] / "examples" / "replicas" / "run.py"


def test_each_conversation_appears_once_whole(postgres_url: str) -> None:
    """Three chats of three turns, each turn served by the other replica: three
    conversations of three LLM calls, from the first question to the last answer."""
    server = RedisServer(redis_exe(), free_port())
    server.start()
    try:
        store = f"{postgres_url}?schema={fresh_schema()}"
        done = subprocess.run(
            [sys.executable, str(EXAMPLE), "--store", store, "--redis",
             f"redis://127.0.0.1:{server.port}/0"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 3, done.stdout
    assert all("3 LLM calls" in line for line in lines), done.stdout
    firsts = sorted(line.split("first: ")[1].split("  last:")[0] for line in lines)
    assert firsts == sorted(
        repr(q)
        for q in ("How long do I boil an egg?", "Can I freeze fresh basil?", "What is a roux?")
    )
