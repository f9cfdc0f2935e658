"""The pages: a strict CSP, no inline script or markup from data, hostile content kept as text."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from viewer_support import HOSTILE_IMG, HOSTILE_SCRIPT, chat_run, export

from convtrack.viewer import create_app
from convtrack.viewer._pages import STATIC
from convtrack.viewer._security import host_name

HOSTILE_ID = f"conv-{HOSTILE_SCRIPT}{HOSTILE_IMG}"


class _Tags(HTMLParser):
    """Collects the tags of a page with their attributes, and the text inside scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text += data


@pytest.mark.parametrize("path", ["/", "/c/some-id", "/c/a%2Fb%3Fc"])
async def test_pages_have_a_strict_csp_and_no_inline_code(
    client: httpx.AsyncClient, path: str
) -> None:
    """Pages: CSP default-src 'self', scripts and styles only from the app, nothing inline."""
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = response.headers["content-security-policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'"):
        assert directive in csp
    assert "unsafe" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    parser = _Tags()
    parser.feed(response.text)
    assert parser.script_text.strip() == ""
    for tag, attrs in parser.tags:
        assert "style" not in attrs
        assert not any(name.startswith("on") for name in attrs)
        for name in ("src", "href"):
            assert (attrs.get(name) or "/").startswith("/"), (tag, attrs)
    scripts = [attrs["src"] for tag, attrs in parser.tags if tag == "script"]
    assert scripts == ["/static/app.js"]


async def test_api_answers_carry_the_headers_too(client: httpx.AsyncClient) -> None:
    """JSON answers and errors get the same security headers."""
    for path in ("/api/conversations", "/api/conversations/none", "/static/missing.js"):
        response = await client.get(path)
        assert "default-src 'self'" in response.headers["content-security-policy"]


async def test_a_server_error_is_json_with_the_headers(
    demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception in the app answers 500 JSON carrying the security headers, and goes on
    up for the server to log."""
    app = create_app(demo_db)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk fell off")

    monkeypatch.setattr(app.state.store.sink, "conversations", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/api/conversations")
    assert response.status_code == 500
    assert response.json() == {"error": "internal error"}
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        with pytest.raises(RuntimeError, match="the disk fell off"):
            await http.get("/api/conversations")
    app.state.store.close()


async def test_static_assets(client: httpx.AsyncClient) -> None:
    """Every asset the page loads is served from the app with its type, and revalidates."""
    types = {
        "app.js": "text/javascript",
        "dom.js": "text/javascript",
        "list.js": "text/javascript",
        "conversation.js": "text/javascript",
        "tree.js": "text/javascript",
        "style.css": "text/css",
        "favicon.svg": "image/svg+xml",
    }
    for name, media_type in types.items():
        response = await client.get(f"/static/{name}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(media_type)
        cached = await client.get(
            f"/static/{name}", headers={"if-none-match": response.headers["etag"]}
        )
        assert cached.status_code == 304
    for missing in ("/static/nope.js", "/static/index.html", "/static/../_app.py"):
        assert (await client.get(missing)).status_code == 404


def test_scripts_never_write_markup() -> None:
    """The viewer's scripts have no innerHTML, document.write, eval or inline handlers."""
    forbidden = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
        r"setAttribute\(\s*[\"']on|javascript:"
    )
    sources = sorted(STATIC.glob("*.js"))
    assert len(sources) == 5
    for source in sources:
        assert not forbidden.search(source.read_text()), source.name


async def test_hostile_content_is_json_data_and_never_page_markup(
    client: httpx.AsyncClient, demo_db: Path
) -> None:
    """Script and img tags in an id, a message and an answer: intact in JSON, absent from pages."""
    run = chat_run(
        HOSTILE_ID,
        [{"role": "user", "content": HOSTILE_SCRIPT}],
        HOSTILE_IMG,
        name=HOSTILE_SCRIPT,
        user_id=HOSTILE_IMG,
        metadata={"note": HOSTILE_SCRIPT},
    )
    export(demo_db, run)
    encoded = quote(HOSTILE_ID, safe="")
    detail = await client.get(f"/api/conversations/{encoded}")
    assert detail.headers["content-type"] == "application/json"
    body = detail.json()
    assert body["conversation_id"] == HOSTILE_ID
    assert body["runs"][0]["name"] == HOSTILE_SCRIPT
    assert [m["text"] for m in body["turns"][0]["messages"]] == [HOSTILE_SCRIPT, HOSTILE_IMG]
    listing = (await client.get("/api/conversations", params={"user_id": HOSTILE_IMG})).json()
    assert [c["conversation_id"] for c in listing["conversations"]] == [HOSTILE_ID]
    for path in ("/", f"/c/{encoded}", "/?q=" + quote(HOSTILE_SCRIPT)):
        page = (await client.get(path)).text
        assert "<script>" not in page
        assert "alert(1)" not in page
        assert "<img src=x" not in page
        assert "onerror" not in page
    missing = await client.get("/api/conversations/" + quote(HOSTILE_SCRIPT + "x", safe=""))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/json"


async def test_allowed_hosts_refuse_other_host_headers(demo_db: Path) -> None:
    """With allowed_hosts, a request for another host (DNS rebinding) is refused with 400."""
    app = create_app(demo_db, allowed_hosts={"localhost", "127.0.0.1", "::1"})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as http:
        assert (await http.get("/api/conversations")).status_code == 200
        for host in ("localhost:8765", "[::1]:8765", "LOCALHOST"):
            assert (await http.get("/", headers={"host": host})).status_code == 200
        refused = await http.get("/api/conversations", headers={"host": "attacker.example:8765"})
        assert refused.status_code == 400
        assert refused.json() == {"error": "unknown host"}
        assert "default-src 'self'" in refused.headers["content-security-policy"]
    app.state.store.close()


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("localhost:8765", "localhost"),
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]:80", "::1"),
        ("[::1]", "::1"),
        ("Example.COM", "example.com"),
        ("", ""),
    ],
)
def test_host_name(header: str, host: str) -> None:
    """host_name strips the port and IPv6 brackets of a Host header."""
    assert host_name(header) == host
