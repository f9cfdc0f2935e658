"""`convtrack ui`: one-line errors, loopback by default, a warning otherwise, a real server."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from viewer_support import demo_ids

from convtrack.cli import main
from convtrack.viewer import _serve
from convtrack.viewer._serve import is_loopback


def test_missing_and_foreign_databases_are_one_line_errors(tmp_path: Path) -> None:
    """A missing or foreign file stops `convtrack ui` with one line, not a traceback."""
    with pytest.raises(SystemExit) as missing:
        main(["ui", "--db", str(tmp_path / "nope.db")])
    assert str(missing.value) == f"convtrack: no convtrack database at {tmp_path / 'nope.db'}"
    foreign = tmp_path / "foreign.db"
    foreign.write_text("hello")
    with pytest.raises(SystemExit) as bad:
        main(["ui", "--db", str(foreign)])
    message = str(bad.value)
    assert message.startswith("convtrack: ")
    assert "not a convtrack database" in message
    assert "\n" not in message


def test_an_address_in_use_is_a_one_line_error(demo_db: Path) -> None:
    """A port another server holds gives a one-line error."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(SystemExit) as busy:
            main(["ui", "--db", str(demo_db), "--port", str(port)])
    assert str(busy.value).startswith(f"convtrack: cannot listen on 127.0.0.1:{port} (")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("example.com", False),
    ],
)
def test_what_counts_as_loopback(host: str, loopback: bool) -> None:
    """Only loopback addresses and `localhost` count as loopback."""
    assert is_loopback(host) is loopback


@pytest.fixture
def fake_uvicorn(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """uvicorn.Server.serve answers requests to the app instead of serving it."""
    seen: dict[str, Any] = {}
    hosts = {"localhost": "localhost:1", "evil": "evil.example", "machine": socket.gethostname()}

    async def serve(self: uvicorn.Server, sockets: list[socket.socket] | None = None) -> None:
        transport = httpx.ASGITransport(app=self.config.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as http:
            for name, host in hosts.items():
                seen[name] = (await http.get("/", headers={"host": host})).status_code
        seen["port"] = sockets[0].getsockname()[1] if sockets else None
        self.started = True

    def listen(host: str, port: int) -> socket.socket:
        seen["bound"] = (host, port)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        return sock

    monkeypatch.setattr(uvicorn.Server, "serve", serve)
    monkeypatch.setattr(_serve, "_listen", listen)
    return seen


def test_loopback_prints_the_url_and_checks_the_host(
    demo_db: Path, fake_uvicorn: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """By default: 127.0.0.1, the URL printed, no warning, other Host headers refused."""
    assert main(["ui", "--db", str(demo_db)]) == 0
    out, err = capsys.readouterr()
    port = fake_uvicorn["port"]
    assert fake_uvicorn["bound"] == ("127.0.0.1", 8765)
    assert out.startswith(f"convtrack viewer on http://127.0.0.1:{port}/")
    assert err == ""
    assert (fake_uvicorn["localhost"], fake_uvicorn["evil"]) == (200, 400)


def test_another_address_is_announced_with_a_warning(
    demo_db: Path, fake_uvicorn: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """--host with a non-loopback address binds there, says anyone may read, and still
    answers only requests naming loopback or this machine."""
    assert main(["ui", "--db", str(demo_db), "--host", "0.0.0.0", "--port", "9000"]) == 0
    out, err = capsys.readouterr()
    assert fake_uvicorn["bound"] == ("0.0.0.0", 9000)
    assert "http://0.0.0.0:" in out
    assert err.startswith("convtrack: warning: listening on 0.0.0.0, not on loopback")
    seen = (fake_uvicorn["localhost"], fake_uvicorn["machine"], fake_uvicorn["evil"])
    assert seen == (200, 200, 400)


@pytest.mark.parametrize(("allowed", "evil"), [(["evil.example"], 200), (["*"], 200), ([], 400)])
def test_allow_host_adds_names(
    demo_db: Path,
    fake_uvicorn: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    allowed: list[str],
    evil: int,
) -> None:
    """--allow-host NAME answers requests for NAME too; `*` answers any host."""
    flags = [arg for name in allowed for arg in ("--allow-host", name)]
    assert main(["ui", "--db", str(demo_db), "--host", "0.0.0.0", *flags]) == 0
    assert (fake_uvicorn["localhost"], fake_uvicorn["evil"]) == (200, evil)


def test_allowed_hosts_of_an_address() -> None:
    """A specific address is allowed as itself; loopback binds do not add the machine's names."""
    assert _serve.allowed_hosts("127.0.0.1") == {"localhost", "127.0.0.1", "::1"}
    public = _serve.allowed_hosts("192.0.2.7")
    assert public is not None
    assert {"192.0.2.7", "localhost", socket.gethostname().lower()} <= public
    assert _serve.allowed_hosts("::", ["*"]) is None


def test_ipv6_loopback_url_has_brackets(
    demo_db: Path, fake_uvicorn: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """An IPv6 host is shown in brackets in the URL."""
    assert main(["ui", "--db", str(demo_db), "--host", "::1"]) == 0
    out, err = capsys.readouterr()
    assert "http://[::1]:" in out
    assert err == ""


SLOW_START = """
import asyncio, sys, uvicorn
original = uvicorn.Server.startup
async def slow(self, sockets=None):
    await asyncio.sleep(1.0)
    await original(self, sockets=sockets)
uvicorn.Server.startup = slow
from convtrack.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_the_address_is_printed_once_connections_are_accepted(demo_db: Path) -> None:
    """Even when the server is slow to start, the printed address answers at once."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_START, "ui", "--db", str(demo_db), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split()[3]
        with httpx.Client(
            base_url=url, timeout=10, transport=httpx.HTTPTransport(retries=0)
        ) as http:
            assert http.get("/api/conversations").status_code == 200
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0


def test_a_real_server_until_ctrl_c(demo_db: Path) -> None:
    """`convtrack ui --port 0` prints its URL, serves the API, and stops cleanly on SIGINT."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "convtrack.cli", "ui", "--db", str(demo_db), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("convtrack viewer on http://127.0.0.1:"), line
        url = line.split()[3]
        with httpx.Client(base_url=url, timeout=10) as http:
            listing = http.get("/api/conversations")
            page = http.get("/")
        assert len(listing.json()["conversations"]) == len(demo_ids(demo_db))
        assert "default-src 'self'" in page.headers["content-security-policy"]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert "Traceback" not in err
