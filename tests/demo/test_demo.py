"""The demo (`python3 dev.py demo`): the core and every integration, recorded offline."""

from __future__ import annotations

from pathlib import Path

import pytest
from convtrack_demo.__main__ import main

from convtrack import SQLiteSink


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich sizes tables to the terminal: give it room so cells are not cut."""
    monkeypatch.setenv("COLUMNS", "200")


def test_demo_records_conversations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`convtrack-demo` writes several multi-turn conversations of several users."""
    db = tmp_path / "demo.db"
    assert main(["--db", str(db)]) == 0
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
