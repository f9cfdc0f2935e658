"""The convtrack command: conversations (filters, totals), show, export, prune, and clear
errors; store strings always printed as plain text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from convtrack_demo import run_demo

from convtrack import Run, RunKind, SQLiteSink
from convtrack.cli import main
from convtrack.sinks._prices import prices_available


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


def _store_with(db: Path, *runs: object) -> None:
    sink = SQLiteSink(db)
    sink.export(runs)  # type: ignore[arg-type]
    sink.close()


def _chat(run_id: str, cid: str, text: str, at: int, **fields: object) -> Run:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=at)
    values: dict[str, object] = {
        "run_id": run_id,
        "parent_run_id": None,
        "root_run_id": run_id,
        "conversation_id": cid,
        "user_id": "user-x",
        "agent_id": None,
        "kind": RunKind.LLM,
        "name": "chat",
        "source": "openai",
        "grouping": "context",
        "started_at": start,
        "ended_at": start + timedelta(seconds=1),
        "inputs": {"messages": [{"role": "user", "content": text}]},
        "outputs": {"role": "assistant", "content": "ok"},
    }
    values.update(fields)
    return Run(**values)  # type: ignore[arg-type]


def test_conversations_filters_and_totals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--metadata, --text and --status filter; the table shows tokens, cost and errors."""
    db = tmp_path / "f.db"
    _store_with(
        db,
        _chat("r1", "conv-refund", "I want a refund", 0, metadata={"customer_id": "cust-77"},
              model="gpt-4o-mini", usage={"prompt_tokens": 1200, "completion_tokens": 300},
              status="error", error="E"),
        _chat("r2", "conv-other", "hello there", 5, metadata={"customer_id": "cust-1"}),
    )  # fmt: skip
    for flags in (
        ["--metadata", "customer_id=cust-77"],
        ["--text", "refund"],
        ["--status", "error"],
        ["--user", "user-x", "--text", "REFUND", "--metadata", "customer_id=cust-77"],
    ):
        assert main(["conversations", "--db", str(db), *flags]) == 0
        out = capsys.readouterr().out
        assert "conv-refund" in out
        assert "conv-other" not in out
        assert "1,500" in out  # tokens
        assert ("$0.00036" if prices_available() else " - ") in out  # cost
    assert main(["conversations", "--db", str(db), "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "conv-other" in out
    assert "older ones: --before " in out
    cursor = out.split("--before ")[1].split()[0]
    assert main(["conversations", "--db", str(db), "--before", cursor]) == 0
    assert "conv-refund" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--metadata", "nokey"], "convtrack: metadata: 'nokey' is not key=value"),
        (["--before", "made-up"], "convtrack: before: not a cursor"),
        (["--since", "soon"], "convtrack: --since: 'soon' is neither"),
    ],
)
def test_bad_filters_are_one_line_errors(tmp_path: Path, flags: list[str], message: str) -> None:
    """A filter the store cannot use stops the command with one line naming it."""
    db = tmp_path / "f.db"
    _store_with(db, _chat("r1", "c1", "hi", 0))
    with pytest.raises(SystemExit) as stopped:
        main(["conversations", "--db", str(db), *flags])
    assert str(stopped.value).startswith(message)


def test_store_strings_are_printed_as_text_with_controls_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ids, names and errors holding rich markup or terminal escapes print literally."""
    db = tmp_path / "h.db"
    hostile = "conv-[/]-[bold red]x[/bold red]-\x1b[31m-\x9b"
    _store_with(
        db,
        _chat("r1", hostile, "hi", 0, user_id="[link=http://evil]u[/link]", name="[/]",
              model="m[/]", status="error", error="boom [/] \x1b]0;title\x07"),
    )  # fmt: skip
    for command in (["conversations"], ["show", hostile], ["show", hostile + "nope"]):
        main([*command, "--db", str(db)])
        out = capsys.readouterr().out
        assert "\x1b" not in out
        assert "\x9b" not in out
        assert "\\x1b" in out
    main(["conversations", "--db", str(db)])
    assert "conv-[/]-[bold red]x[/bold red]-\\x1b[31m-\\x9b" in capsys.readouterr().out
    main(["show", hostile, "--db", str(db)])
    tree = capsys.readouterr().out
    assert "[link=http://evil]u[/link]" in tree
    assert "boom [/] \\x1b]0;title\\x07" in tree


def test_prune_deletes_old_conversations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """prune --older-than deletes the conversations last active before then; --vacuum too."""
    db = tmp_path / "p.db"
    old = datetime.now(timezone.utc) - timedelta(days=40)
    _store_with(
        db,
        _chat("r1", "conv-old", "hi", 0, started_at=old, ended_at=old),
        _chat("r2", "conv-new", "hi", 0, started_at=datetime.now(timezone.utc),
              ended_at=datetime.now(timezone.utc)),
    )  # fmt: skip
    assert main(["prune", "--older-than", "30d", "--db", str(db), "--vacuum"]) == 0
    assert "deleted 1 conversations" in capsys.readouterr().out
    store = SQLiteSink(db)
    assert [s.conversation_id for s in store.conversations()] == ["conv-new"]
    assert [r.run_id for r in store.runs()] == ["r2"]
    store.close()
    with pytest.raises(SystemExit, match="--older-than: 'a while'"):
        main(["prune", "--older-than", "a while", "--db", str(db)])


def test_prune_shows_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal, prune draws a rich progress bar on stderr while it deletes."""
    db = tmp_path / "p.db"
    old = datetime.now(timezone.utc) - timedelta(days=40)
    _store_with(
        db, *[_chat(f"r{n}", f"c{n}", "hi", 0, started_at=old, ended_at=old) for n in range(3)]
    )
    result = subprocess.run(
        [sys.executable, "-m", "convtrack.cli", "prune", "--older-than", "30d", "--db", str(db)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "100"},
    )
    assert result.returncode == 0, result.stderr
    assert "pruning conversations" in result.stderr
    assert "deleted 3 conversations" in result.stdout


def test_mcp_with_a_missing_database_is_one_line(tmp_path: Path) -> None:
    """`convtrack mcp` on a missing store stops with a one-line error, before serving."""
    with pytest.raises(SystemExit, match="no convtrack database"):
        main(["mcp", "--db", str(tmp_path / "missing.db")])
