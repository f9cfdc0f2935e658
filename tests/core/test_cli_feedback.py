"""The convtrack command with feedback and ended conversations: filters and `show`."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

import convtrack as ct
from convtrack.cli import main


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich sizes tables to the terminal: give it room so cells are not cut."""
    monkeypatch.setenv("COLUMNS", "200")


def _store(tmp_path: Path) -> str:
    """conv-done (ended, thumbs feedback on it and on its run) and conv-live (open)."""
    db = str(tmp_path / "s.db")
    ct.configure([ct.SQLiteSink(db)], grouping=False)
    with ct.conversation("conv-done", user_id="alice"):
        with ct.trace("answer") as step:
            pass
        ct.feedback(key="thumbs", score=1, comment="spot on")
        ct.feedback(run_id=step.run_id, key="label", value={"topic": "refund"})
        ct.end_conversation()
    with ct.conversation("conv-live"), ct.trace("answer"):
        pass
    assert ct.shutdown()
    return db


def test_conversations_filters_by_ended_open_and_feedback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--ended, --open and --feedback KEY keep only the matching conversations."""
    db = _store(tmp_path)
    capsys.readouterr()
    assert main(["conversations", "--db", db, "--ended"]) == 0
    out = capsys.readouterr().out
    assert "conv-done" in out
    assert "conv-live" not in out
    assert main(["conversations", "--db", db, "--open"]) == 0
    out = capsys.readouterr().out
    assert "conv-live" in out
    assert "conv-done" not in out
    assert " open" in out
    assert main(["conversations", "--db", db, "--feedback", "label"]) == 0
    out = capsys.readouterr().out
    assert "conv-done" in out
    assert "conv-live" not in out


def test_ended_and_open_together_are_refused(tmp_path: Path) -> None:
    """--ended and --open are exclusive: argparse exits 2."""
    with pytest.raises(SystemExit) as exc:
        main(["conversations", "--db", str(tmp_path / "s.db"), "--ended", "--open"])
    assert exc.value.code == 2


def test_show_prints_the_feedback_and_the_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """show lists each feedback (key, score, value, comment, run) and the ended time."""
    db = _store(tmp_path)
    capsys.readouterr()
    assert main(["show", "conv-done", "--db", db]) == 0
    out = capsys.readouterr().out
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    assert f"ended {today}" in out
    assert "feedback thumbs  score 1  'spot on'" in out
    assert 'feedback label  value {"topic": "refund"}  on run ' in out
    assert main(["show", "conv-live", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "open" in out
    assert "feedback" not in out
