"""`convtrack ui`: serve the viewer with uvicorn, on loopback unless told otherwise."""

from __future__ import annotations

import ipaddress
import socket
import sys

from ..sinks import DatabaseError
from ._app import create_app
from ._security import LOOPBACK_HOSTS


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or `localhost`) is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (port 0: a free one), or a one-line error."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise SystemExit(f"convtrack: cannot listen on {host}:{port} ({exc})") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise SystemExit(f"convtrack: cannot listen on {host}:{port} ({exc})") from None
    return sock


def serve(db: str, *, host: str = "127.0.0.1", port: int = 8765) -> int:
    """Serve the viewer of the store `db` until interrupted; print its address first.

    Binds to `host` (loopback by default; any other address is announced with a warning,
    since everyone who reaches it can read the conversations).

    Returns:
        0 after a clean stop.

    Raises:
        SystemExit: a one-line error (missing uvicorn, bad database, address in use).
    """
    try:
        import uvicorn
    except ImportError:
        raise SystemExit(
            "convtrack: the viewer needs uvicorn: pip install 'convtrack[ui]'"
        ) from None
    loopback = is_loopback(host)
    try:
        app = create_app(db, allowed_hosts=(LOOPBACK_HOSTS | {host.lower()}) if loopback else None)
    except DatabaseError as exc:
        raise SystemExit(f"convtrack: {exc}") from None
    try:
        sock = _listen(host, port)
    except SystemExit:
        app.state.store.close()
        raise
    bound_port = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    print(f"convtrack viewer on http://{shown}:{bound_port}/  (store: {db}; Ctrl+C to stop)")
    if not loopback:
        print(
            f"convtrack: warning: listening on {host}, not on loopback: anyone who can reach "
            "this address can read these conversations",
            file=sys.stderr,
        )
    sys.stdout.flush()
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="none")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn stops cleanly on Ctrl+C, then re-raises the signal
        pass
    finally:
        sock.close()
        app.state.store.close()
    return 0
