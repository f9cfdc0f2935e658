"""Counting CPU instructions under valgrind: what the `*_instructions.py` benchmarks share."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def valgrind() -> str:
    """The valgrind executable (exits with the install hint when it is missing)."""
    found = shutil.which("valgrind")
    if found is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    return found


def count(valgrind_path: str, script: str, child_args: list[str]) -> int:
    """Instructions `python script --child *child_args` executes in all, under cachegrind."""
    tool = ["--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    command = [valgrind_path, *tool, sys.executable, script, "--child", *child_args]
    # One hash seed for every child: with a random one, start-up (imports building dicts and
    # sets) differs by millions of instructions between the small and the large run, which
    # moved a case's per-iteration count by up to 20%.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    found = _REFS.search(done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{done.stderr}")
    return int(found.group(1).replace(",", ""))
