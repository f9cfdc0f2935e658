"""One store URL everywhere: open_store, configure(sinks=[url]), the CLI and the viewer; a bad
URL, a refused connection or wrong credentials are one clear line; the schema is versioned."""

from __future__ import annotations

import logging
import multiprocessing
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from convtrack_postgres import SCHEMA_VERSION, PostgresSink
from pg_support import PostgresServer, free_port, fresh_schema
from psycopg import sql
from starlette.testclient import TestClient

import convtrack as ct
from convtrack import SQLiteSink
from convtrack import _config as ct_config
from convtrack.sinks import DatabaseError, open_store


def test_paths_and_sqlite_urls_open_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A path, `sqlite:///relative` and `sqlite:////absolute` name SQLite files."""
    monkeypatch.chdir(tmp_path)
    for name, path in (
        (str(tmp_path / "a.db"), tmp_path / "a.db"),
        ("sqlite:///b.db", Path("b.db")),
        (f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "c.db"),
    ):
        store = open_store(name)
        assert isinstance(store, SQLiteSink)
        assert store.path == path
        store.close()
    with pytest.raises(DatabaseError, match="no convtrack database"):
        open_store("sqlite:///missing.db", create=False)


def test_unknown_scheme_is_one_line() -> None:
    """A URL no installed package serves is refused, naming its scheme."""
    with pytest.raises(DatabaseError, match=r"no store is installed for mysql:// URLs"):
        open_store("mysql://localhost/app")


def test_postgresql_url_opens_a_postgres_sink(postgres_url: str) -> None:
    """`postgresql://` goes through the `convtrack.stores` entry point; ?schema= picks one."""
    schema = fresh_schema()
    store = open_store(f"{postgres_url}?schema={schema}")
    assert isinstance(store, PostgresSink)
    assert store.schema == schema
    store.close()
    with pytest.raises(DatabaseError, match="no convtrack store in schema"):
        open_store(f"{postgres_url}?schema={fresh_schema()}", create=False)


def test_configure_with_a_url(postgres_url: str) -> None:
    """`configure(sinks=["postgresql://..."])` records into PostgreSQL."""
    schema = fresh_schema()
    ct.configure([f"{postgres_url}?schema={schema}"], grouping=False, export_interval=0.05)
    with ct.conversation("from-config"), ct.trace("step"):
        pass
    assert ct.flush(timeout=10)
    ct.shutdown()
    store = PostgresSink(postgres_url, schema=schema)
    assert [s.conversation_id for s in store.conversations()] == ["from-config"]
    store.close()


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("bad url", "invalid"),
        ("refused", "refused"),
        ("wrong password", "password authentication failed"),
    ],
)
def test_connection_trouble_is_one_clear_line(
    postgres_server: PostgresServer, kind: str, message: str
) -> None:
    """A bad URL, a refused connection, wrong credentials: DatabaseError, one line, no
    password in it."""
    url = {
        "bad url": f"postgresql://postgres:hunter2@127.0.0.1:{postgres_server.port}x/db",
        "refused": f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/db",
        "wrong password": postgres_server.dsn("convtrack_test", password="hunter2"),
    }[kind]
    with pytest.raises(DatabaseError) as caught:
        open_store(url)
    text = str(caught.value)
    assert message in text
    assert "\n" not in text
    assert "hunter2" not in text


def test_cli_reads_postgres_and_reports_trouble_in_one_line(pg_store: PostgresSink) -> None:
    """`convtrack conversations --db postgresql://...` lists the store; a refused server is
    one line on stderr, no traceback."""
    pg_store.export([_run("r1", "cli-conv")])
    url = f"{pg_store.dsn}?schema={pg_store.schema}"
    cli = [sys.executable, "-m", "convtrack.cli"]
    listed = subprocess.run(
        [*cli, "conversations", "--db", url], capture_output=True, text=True, check=False
    )
    assert listed.returncode == 0, listed.stderr
    assert "cli-conv" in listed.stdout
    dead = f"postgresql://postgres:x@127.0.0.1:{free_port()}/db"
    failed = subprocess.run(
        [*cli, "conversations", "--db", dead], capture_output=True, text=True, check=False
    )
    assert failed.returncode != 0
    assert "Traceback" not in failed.stderr
    assert failed.stderr.strip().count("\n") == 0
    assert failed.stderr.startswith("convtrack: cannot open PostgreSQL")


def test_viewer_api_reads_postgres(pg_store: PostgresSink) -> None:
    """The viewer's API answers from a PostgreSQL store named by URL."""
    from convtrack.viewer import create_app

    pg_store.export([_run("r1", "viewer-conv")])
    app = create_app(f"{pg_store.dsn}?schema={pg_store.schema}")
    with TestClient(app) as client:
        listed = client.get("/api/conversations").json()
        assert [c["conversation_id"] for c in listed["conversations"]] == ["viewer-conv"]
        assert client.get("/api/conversations/viewer-conv").status_code == 200
    app.state.store.close()


def _run(run_id: str, conversation_id: str) -> ct.Run:
    sys.path.insert(0, str(Path(__file__).parents[2] / "core" / "store"))
    from store_support import chat

    return chat(run_id, conversation_id, "hello", "hi")


def test_a_newer_schema_is_refused(postgres_url: str) -> None:
    """A schema written by a newer convtrack-postgres is not touched: a clear error."""
    schema = fresh_schema()
    PostgresSink(postgres_url, schema=schema).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("UPDATE {}.schema_version SET version = %s").format(sql.Identifier(schema)),
            (SCHEMA_VERSION + 1,),
        )
    with pytest.raises(DatabaseError, match="newer convtrack-postgres"):
        PostgresSink(postgres_url, schema=schema)


def _open(url: str, schema: str) -> None:
    PostgresSink(url, schema=schema).close()


def test_many_processes_create_the_schema_once(postgres_url: str) -> None:
    """Processes opening a new store at once create it once (one version row, no error)."""
    schema = fresh_schema()
    context = multiprocessing.get_context("spawn")
    openers = [context.Process(target=_open, args=(postgres_url, schema)) for _ in range(4)]
    for opener in openers:
        opener.start()
    for opener in openers:
        opener.join(60)
    assert [o.exitcode for o in openers] == [0] * 4
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            sql.SQL("SELECT version FROM {}.schema_version").format(sql.Identifier(schema))
        ).fetchall()
    assert rows == [(SCHEMA_VERSION,)]


def test_cli_show_export_and_prune_on_postgres(pg_store: PostgresSink) -> None:
    """`show`, `export` and `prune --vacuum` work on a `postgresql://` store as on a file."""
    pg_store.export([_run("r1", "old-conv"), _run("r2", "old-conv")])
    url = f"{pg_store.dsn}?schema={pg_store.schema}"
    cli = [sys.executable, "-m", "convtrack.cli"]

    def call(*args: str) -> str:
        done = subprocess.run(
            [*cli, *args, "--db", url], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "old-conv" in call("show", "old-conv")
    assert len(call("export").strip().splitlines()) == 2
    call("prune", "--older-than", "30d", "--vacuum")  # the runs are of 2026-03-01
    assert pg_store.count() == 0
    assert pg_store.conversations() == []


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("refused", "Connection refused"),
        ("wrong password", "password authentication failed"),
    ],
)
def test_configure_with_an_unusable_url_logs_one_line(
    postgres_server: PostgresServer, kind: str, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    """configure(sinks=["postgresql://..."]) with a refused connection or wrong credentials
    does not stop the app: one warning line names the server and the cause (no traceback, no
    password), and the app's code runs on."""
    url = {
        "refused": f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/db",
        "wrong password": postgres_server.dsn("convtrack_test", password="hunter2"),
    }[kind]
    with caplog.at_level(logging.WARNING, logger="convtrack"):
        ct.configure([url], grouping=False)
        [sink] = ct_config.current.sinks  # type: ignore[union-attr]
        assert sink.checked is not None
        sink.checked.join(10)
        with ct.conversation("still-runs"), ct.trace("step"):
            pass
    ct.shutdown()
    [line] = [r for r in caplog.records if "cannot open PostgreSQL" in r.getMessage()]
    text = line.getMessage()
    assert text.startswith("convtrack: cannot open PostgreSQL at 127.0.0.1:")
    assert message in text
    assert "\n" not in text
    assert "hunter2" not in text
    assert line.exc_info is None
