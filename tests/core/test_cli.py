"""The convtrack command: conversations, show, export, and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from convtrack_demo import run_demo

from convtrack import SQLiteSink
from convtrack.cli import main


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich sizes tables to the terminal: give it room so cells are not cut."""
    monkeypatch.setenv("COLUMNS", "200")


def test_conversations_show_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """conversations lists, show prints the run tree, export writes JSON lines."""
    db = str(tmp_path / "demo.db")
    run_demo(db)
    capsys.readouterr()
    assert main(["conversations", "--db", db, "--user", "user-bob"]) == 0
    listing = capsys.readouterr().out
    assert "user-bob" in listing
    assert "user-alice" not in listing
    store = SQLiteSink(db)
    target = store.conversations(user_id="user-bob")[0].conversation_id
    total = store.count()
    store.close()
    assert main(["show", target, "--db", db]) == 0
    tree = capsys.readouterr().out
    assert "support-turn" in tree
    assert "lookup_order" in tree
    out_file = tmp_path / "runs.jsonl"
    assert main(["export", "--db", db, "-o", str(out_file)]) == 0
    lines = out_file.read_text().splitlines()
    assert len(lines) == total
    assert {json.loads(line)["source"] for line in lines} >= {"trace", "asgi"}


def test_unknown_conversation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """show with an unknown id says so and exits 1."""
    db = str(tmp_path / "demo.db")
    run_demo(db)
    assert main(["show", "nope", "--db", db]) == 1
    assert "no conversation nope" in capsys.readouterr().out


def test_missing_or_foreign_database_is_one_line(tmp_path: Path) -> None:
    """A missing or foreign database gives a one-line error and no traceback."""
    junk = tmp_path / "junk.db"
    junk.write_text("hello")
    for db in (tmp_path / "missing.db", junk):
        result = subprocess.run(
            [sys.executable, "-m", "convtrack.cli", "conversations", "--db", str(db)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert result.stderr.startswith("convtrack: ")
