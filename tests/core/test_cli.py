"""The convtrack command: demo, conversations, show, export, and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from convtrack import SQLiteSink
from convtrack.cli import main


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich sizes tables to the terminal: give it room so cells are not cut."""
    monkeypatch.setenv("COLUMNS", "200")


def test_demo_records_conversations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`convtrack demo` writes several multi-turn conversations of several users."""
    db = tmp_path / "demo.db"
    assert main(["demo", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    store = SQLiteSink(db)
    summaries = store.conversations()
    store.close()
    assert len(summaries) == 13
    users = {s.user_id for s in summaries}
    assert {"user-alice", "user-bob", "user-carol", "user-hana", "user-ivan"} <= users
    assert all(s.llm_count >= 1 for s in summaries)
    assert sum(s.inferred for s in summaries) >= 4  # the apps that send no ids, auto-grouped
    web = next(s for s in summaries if s.user_id == "user-hana")
    store = SQLiteSink(db)
    runs = store.runs(web.conversation_id)
    store.close()
    http = [r for r in runs if r.kind.value == "http"]
    assert len(http) == 3  # three requests, one conversation: the id was echoed and sent back
    assert all(r.parent_run_id in {h.run_id for h in http} for r in runs if r.kind.value == "llm")
    assert summaries[0].conversation_id[:8] in out


def test_conversations_show_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """conversations lists, show prints the run tree, export writes JSON lines."""
    db = str(tmp_path / "demo.db")
    main(["demo", "--db", db])
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
    main(["demo", "--db", db])
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
