"""`convtrack ui`: serve the viewer with uvicorn, on loopback unless told otherwise."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import sys
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from ..sinks import DatabaseError
from ._app import create_app
from ._security import LOOPBACK_HOSTS

if TYPE_CHECKING:
    import uvicorn

_ANY_ADDRESS = frozenset({"0.0.0.0", "::", "[::]", ""})


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or `localhost`) is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def machine_names() -> set[str]:
    """This machine's host names and the addresses they resolve to (lower-cased)."""
    names: set[str] = set()
    try:
        hostname = socket.gethostname()
        names.update({hostname, socket.getfqdn()})
        _, aliases, addresses = socket.gethostbyname_ex(hostname)
        names.update(aliases)
        names.update(addresses)
        for info in socket.getaddrinfo(hostname, None):
            names.add(str(info[4][0]))
    except OSError:
        pass
    return {name.lower() for name in names if name}


def allowed_hosts(host: str, extra: Collection[str] = ()) -> set[str] | None:
    """The Host header names the viewer bound to `host` answers to (None: any, from `*`).

    Loopback names, the bound address, this machine's names and addresses, and `extra`.
    """
    if "*" in extra:
        return None
    allowed = set(LOOPBACK_HOSTS) | {name.lower() for name in extra}
    if host.lower() not in _ANY_ADDRESS:
        allowed.add(host.strip("[]").lower())
    if not is_loopback(host):
        allowed |= machine_names()
    return allowed


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


def serve(
    db: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    allow_hosts: Collection[str] = (),
    feedback_token: str | None = None,
) -> int:
    """Serve the viewer of the store `db` until interrupted; print its address once it
    accepts connections.

    Binds to `host` (loopback by default; any other address is announced with a warning,
    since everyone who reaches it can read the conversations). Requests must name a known
    host (loopback, this machine, or one of `allow_hosts`; `*` allows any): a page on
    another site cannot rebind its DNS name to this server and read it.

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
        app = create_app(
            db, allowed_hosts=allowed_hosts(host, allow_hosts), feedback_token=feedback_token
        )
    except DatabaseError as exc:
        raise SystemExit(f"convtrack: {exc}") from None
    try:
        sock = _listen(host, port)
    except SystemExit:
        app.state.store.close()
        raise
    bound_port = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host else host

    def announce() -> None:
        _announce(
            f"convtrack viewer on http://{shown}:{bound_port}/  (store: {db}; Ctrl+C to stop)"
        )
        if not loopback:
            print(
                f"convtrack: warning: listening on {host}, not on loopback: anyone who can reach "
                "this address can read these conversations",
                file=sys.stderr,
            )

    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="none")
    try:
        _run(uvicorn.Server(config), sock, announce)
    except KeyboardInterrupt:  # uvicorn stops cleanly on Ctrl+C, then re-raises the signal
        pass
    finally:
        sock.close()
        app.state.store.close()
    return 0


def _announce(text: str) -> None:
    print(text, flush=True)


def _run(server: uvicorn.Server, sock: socket.socket, announce: Callable[[], None]) -> None:
    """Run `server` on `sock`; call `announce` once it has started accepting connections."""

    async def main() -> None:
        serving = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        if server.started:
            announce()
        await serving

    asyncio.run(main())
