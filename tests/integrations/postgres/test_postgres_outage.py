"""The server stops for 5 s while the app records: the app never waits or fails, runs recorded
after the restart arrive, and what was lost is counted."""

from __future__ import annotations

import time

from convtrack_postgres import PostgresSink
from pg_support import PostgresServer

import convtrack as ct
from convtrack.sinks import DatabaseError


def _record(prefix: str, n: int) -> float:
    """Record `n` runs in 5 conversations; the slowest one's time in the app, in seconds."""
    slowest = 0.0
    for i in range(n):
        began = time.perf_counter()
        with ct.conversation(f"{prefix}-{i % 5}"), ct.trace(f"{prefix}-step"):
            pass
        slowest = max(slowest, time.perf_counter() - began)
    return slowest


def test_server_stopped_for_five_seconds(own_postgres: PostgresServer) -> None:
    """While the server is down, recording stays fast and raises nothing; after it is back,
    new runs arrive; the runs of the outage are counted as failed or dropped."""
    url = own_postgres.create_database()
    sink = PostgresSink(url, schema="outage", write_timeout=0.5)
    ct.configure([sink], grouping=False, export_interval=0.05)
    _record("before", 50)
    assert ct.flush(timeout=10)
    own_postgres.stop()
    slowest, down_until = 0.0, time.monotonic() + 5
    while time.monotonic() < down_until:
        slowest = max(slowest, _record("during", 10))
        time.sleep(0.05)
    own_postgres.start()
    deadline = time.monotonic() + 60  # the pool reconnects in the background
    while time.monotonic() < deadline:
        _record("probe", 1)
        ct.flush(timeout=10)
        if any(s.conversation_id == "probe-0" for s in sink.conversations(None)):
            break
    _record("after", 50)
    assert ct.flush(timeout=20)
    stats = ct.stats()
    ct.shutdown()
    assert slowest < 0.25  # no recording waited for the server
    assert stats["failed"] + stats["dropped"] > 0  # the outage's runs, counted
    assert stats["emitted"] == stats["exported"] + stats["failed"] + stats["dropped"]
    assert stats["sinks"]["PostgresSink"]["failed"] > 0
    reader = PostgresSink(url, schema="outage")
    found = {s.conversation_id: s.run_count for s in reader.conversations(None)}
    assert {cid: n for cid, n in found.items() if cid.startswith("after")} == {
        f"after-{i}": 10 for i in range(5)
    }
    assert sum(n for cid, n in found.items() if cid.startswith("before")) == 50
    reader.close()


def test_the_app_starts_while_its_database_is_down(own_postgres: PostgresServer) -> None:
    """`configure(sinks=[url])` with the server down raises nothing; once the server is
    up, the store is created and the runs recorded from then on arrive."""
    url = own_postgres.create_database()
    own_postgres.stop()
    ct.configure([f"{url}?schema=late"], grouping=False, export_interval=0.05)
    assert _record("early", 5) < 0.25
    ct.flush(timeout=10)
    own_postgres.start()
    deadline = time.monotonic() + 60
    reader = None
    while time.monotonic() < deadline and reader is None:
        _record("probe", 1)
        ct.flush(timeout=10)
        try:
            reader = PostgresSink(url, schema="late", create=False)
        except DatabaseError:
            time.sleep(0.2)
    assert reader is not None
    _record("after", 10)
    assert ct.flush(timeout=20)
    ct.shutdown()
    found = {s.conversation_id: s.run_count for s in reader.conversations(None)}
    assert {cid: n for cid, n in found.items() if cid.startswith("after")} == {
        f"after-{i}": 2 for i in range(5)
    }
    assert ct.stats()["failed"] >= 5  # the runs of the outage, counted
    reader.close()
