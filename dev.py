#!/usr/bin/env python3
"""The two commands: `python3 dev.py demo` and `python3 dev.py test` (standard library only).

Each creates ./.venv on first use, installs requirements-dev.txt into it (again whenever that
file changes), then runs the demo or the whole test suite (ruff, mypy --strict, pytest).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
REQUIREMENTS = ROOT / "requirements-dev.txt"
STAMP = VENV / ".requirements.sha256"
PACKAGES = [
    "convtrack",
    *sorted(str(p.parent) for p in ROOT.glob("integrations/*/pyproject.toml")),
    "demo",
]


def run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    code = subprocess.call([str(c) for c in cmd], cwd=ROOT)
    if code:
        sys.exit(code)


def setup() -> None:
    """Create .venv and install requirements-dev.txt when it is missing or changed."""
    if sys.version_info < (3, 10):  # noqa: UP036 - say so on an old Python
        sys.exit("convtrack needs Python >= 3.10")
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    run(PY, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--upgrade", "pip")
    run(PY, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", REQUIREMENTS)
    STAMP.write_text(digest)


def demo() -> None:
    """Run the demo (`convtrack-demo`, ./demo) on the embedded SQLite store (./convtrack.db)."""
    run(BIN / "convtrack-demo", *sys.argv[2:])


def test() -> None:
    """Lint, type-check and run the whole test suite."""
    if shutil.which("redis-server") is None:
        print("note: redis-server is not installed; the Redis tests will be skipped", flush=True)
    run(PY, "-m", "ruff", "check", ".")
    run(PY, "-m", "ruff", "format", "--check", ".")
    run(PY, "-m", "mypy", "--strict", *PACKAGES)
    run(PY, "-m", "pytest", *sys.argv[2:])


COMMANDS = {"demo": demo, "test": test}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: python3 dev.py {{{'|'.join(COMMANDS)}}} [args...]")
    setup()
    COMMANDS[sys.argv[1]]()
