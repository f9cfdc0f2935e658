"""PostgreSQL text cannot hold NUL: such runs are stored all the same, NUL as U+FFFD."""

from __future__ import annotations

import sys
from pathlib import Path

from convtrack_postgres import PostgresSink

from convtrack import RunKind

sys.path.insert(0, str(Path(__file__).parents[2] / "core" / "store"))
from store_support import chat, run


def test_runs_with_nul_characters_are_stored(pg_store: PostgresSink) -> None:
    """NUL in ids, names, messages and metadata: the batch is stored, found by its filters."""
    pg_store.export(
        [
            chat("r\x001", "c\x00nul", "say \x00 hi", "a\x00nswer", metadata={"k\x00": "v\x00"}),
            run("r2", "c\x00nul", at=2, kind=RunKind.TOOL, name="tool\x00x"),
            chat("r3", "plain", "hello", "hi", at=3),
        ]
    )
    assert pg_store.count() == 3
    (found,) = pg_store.conversations(query="c\x00nul")
    assert found.conversation_id == "c\ufffdnul"
    assert (found.run_count, found.tools, found.first_input) == (
        2,
        ("tool\ufffdx",),
        "say \ufffd hi",
    )
    assert found.metadata == {"k\ufffd": "v\ufffd"}
    assert [s.conversation_id for s in pg_store.conversations(metadata={"k\x00": "v\x00"})] == [
        "c\ufffdnul"
    ]
    assert [r.run_id for r in pg_store.runs("c\x00nul")] == ["r\ufffd1", "r2"]


def test_nul_only_in_message_text_and_metadata(pg_store: PostgresSink) -> None:
    """Clean ids, but NUL in a message and a metadata value: stored in one go, the summary,
    metadata filter and text search see U+FFFD."""
    pg_store.export([chat("r1", "clean", "find x\x00y", "ok", metadata={"m": "n\x00"})])
    (found,) = pg_store.conversations()
    assert (found.first_input, found.metadata) == ("find x\ufffdy", {"m": "n\ufffd"})
    assert [s.conversation_id for s in pg_store.conversations(metadata={"m": "n\x00"})] == ["clean"]
    assert [s.conversation_id for s in pg_store.conversations(text="find")] == ["clean"]
