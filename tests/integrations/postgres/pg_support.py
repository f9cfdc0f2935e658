"""A real PostgreSQL server for tests and benchmarks: initdb + pg_ctl in a temporary folder.

The server refuses to run as root, so as root it runs as the `postgres` user (Debian's
`postgresql` package creates it). It listens on a free loopback port, its socket in the
folder; the superuser `postgres` has the password `secret` over TCP.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

PASSWORD = "secret"
DATABASE = "convtrack_test"


def free_port() -> int:
    """A loopback port nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bindir() -> Path | None:
    """The folder of `initdb` and `pg_ctl` (Debian's, or on the PATH); None without them."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


class PostgresServer:
    """One PostgreSQL server of its own, in a temporary folder."""

    def __init__(self, port: int | None = None, *, durable: bool = False) -> None:
        found = bindir()
        if found is None:
            raise RuntimeError(
                "PostgreSQL is not installed (no initdb): apt-get install postgresql"
            )
        self.bin = found
        self.port = port or free_port()
        self.durable = durable  # False: no fsync (tests); True: PostgreSQL's defaults
        self.dir = Path(tempfile.mkdtemp(prefix="convtrack-pg-"))
        self.data = self.dir / "data"
        self._user: str | None = None
        if os.geteuid() == 0:  # the server refuses root: hand the folder to `postgres`
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root and there is no `postgres` user") from None
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
            self._user = "postgres"
        self.dir.chmod(0o700)
        self._initdb()

    def _run(self, *cmd: str) -> None:
        args = list(cmd)
        if self._user is not None:
            args = ["runuser", "-u", self._user, "--", *args]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode:
            raise RuntimeError(f"{' '.join(cmd[:2])} failed: {done.stderr.strip()[-500:]}")

    def _initdb(self) -> None:
        pwfile = self.dir / "pw"
        pwfile.write_text(PASSWORD)
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-E", "UTF8",
            "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
        )  # fmt: skip

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port}"
            f" -c unix_socket_directories={self.dir} -c max_connections=200"
        )
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        self._run(
            str(self.bin / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.data),
            "-l", str(self.dir / "log"), "-o", options,
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server at once (open connections are cut)."""
        if (self.data / "postmaster.pid").exists():
            self._run(
                str(self.bin / "pg_ctl"), "stop", "-w", "-m", "immediate", "-D", str(self.data)
            )

    def remove(self) -> None:
        """Stop the server and delete its folder."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def dsn(self, database: str = "postgres", password: str = PASSWORD) -> str:
        """The URL of a database of this server."""
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str = DATABASE) -> str:
        """Create a database (once) and return its URL."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if found is None:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)


_shared: PostgresServer | None = None
_failure: str | None = None


def shared_server() -> PostgresServer:
    """The one server of this test session (started on first use, removed at exit).

    Raises:
        RuntimeError: no server can be started here (the message says why).
    """
    global _shared, _failure
    if _failure is not None:
        raise RuntimeError(_failure)
    if _shared is None:
        try:
            server = PostgresServer()
            atexit.register(server.remove)
            server.start()
            server.create_database()
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            _failure = str(exc)
            raise RuntimeError(_failure) from exc
        _shared = server
    return _shared


def fresh_schema() -> str:
    """A schema name no other test uses."""
    return f"t_{uuid.uuid4().hex[:12]}"
