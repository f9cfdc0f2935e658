"""Counting CPU instructions under valgrind: what the `*_instructions.py` benchmarks share.

A case's cost per call is the difference between a child making a small and a large number
of calls, divided by the extra calls (start-up and imports cancel out). It is measured under
several hash seeds and the median is kept: the seed decides where method names land in
CPython's attribute cache, and an unlucky seed moved a small case by up to 20%.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")
SEEDS = ("0", "1", "2")


def valgrind() -> str:
    """The valgrind executable (exits with the install hint when it is missing)."""
    found = shutil.which("valgrind")
    if found is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    return found


def count(valgrind_path: str, script: str, child_args: list[str], seed: str = "0") -> int:
    """Instructions `python script --child *child_args` executes in all, under cachegrind."""
    tool = ["--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    command = [valgrind_path, *tool, sys.executable, script, "--child", *child_args]
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    found = _REFS.search(done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{done.stderr}")
    return int(found.group(1).replace(",", ""))


def per_call(
    script: str,
    cases: Sequence[list[str]],
    small: int,
    large: int,
    seeds: Sequence[str] = SEEDS,
) -> list[float]:
    """Instructions per call of each case (child arguments, the call count appended): the
    median over `seeds` of (count at `large` - count at `small`) / (`large` - `small`)."""
    path = valgrind()
    jobs = [(case, seed) for case in cases for seed in seeds]

    def one(job: tuple[list[str], str]) -> float:
        case, seed = job
        counts = [count(path, script, [*case, str(n)], seed) for n in (small, large)]
        return (counts[1] - counts[0]) / (large - small)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        each = list(pool.map(one, jobs))
    return [statistics.median(each[i : i + len(seeds)]) for i in range(0, len(each), len(seeds))]
