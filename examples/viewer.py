"""The local viewer: record the demo workload, serve the viewer, read its JSON API.

Runs offline: ``python examples/viewer.py`` records the demo into a temporary SQLite store,
serves `convtrack.viewer.create_app` on a free loopback port, prints what the JSON API says
(the conversations, then one transcript turn by turn) and stops. ``--serve`` keeps it running
so you can open the printed address (the same as ``convtrack ui``). ``--screenshot PATH``
saves a picture of one conversation, as in the README (needs Playwright for Python and
Debian's chromium).
"""

from __future__ import annotations

import argparse
import json
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote
from urllib.request import urlopen

import uvicorn
from convtrack_demo import run_demo

from convtrack.viewer import create_app


@contextmanager
def serving(db: Path) -> Iterator[str]:
    """The viewer of `db` on a free 127.0.0.1 port, in a thread; yields its base URL."""
    app = create_app(db)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="none"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        app.state.store.close()


def get_json(url: str) -> Any:
    """GET a JSON document, as any script may from the viewer's API."""
    with urlopen(url, timeout=10) as response:
        return json.load(response)


def screenshot(url: str, path: Path) -> None:
    """Save a 1280x900 picture of `url` in headless Chromium, its first run tree open."""
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        page.locator("details.runs > summary").first.click()
        page.locator(".run-name").first.wait_for()
        page.screenshot(path=str(path))
        browser.close()


def main() -> None:
    """Record, serve, read; then stop, keep serving, or take a screenshot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="keep serving until Ctrl+C")
    parser.add_argument("--screenshot", type=Path, help="save a PNG of one conversation")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "demo.db"
        run_demo(str(db))
        with serving(db) as url:
            listing = get_json(f"{url}/api/conversations")
            for summary in listing["conversations"]:
                print(
                    f"{summary['conversation_id']}  {summary['user_id']:<11}"
                    f"  {summary['run_count']:>2} runs  {summary['llm_count']} LLM calls"
                )
            busiest = max(listing["conversations"], key=lambda c: c["run_count"])
            chosen = busiest["conversation_id"]
            detail = get_json(f"{url}/api/conversations/{quote(chosen, safe='')}")
            print(f"\ntranscript of {chosen}:")
            for number, turn in enumerate(detail["turns"], 1):
                for message in turn["messages"]:
                    print(f"  turn {number} {message['role']:>9}: {message['text']}")
            if args.screenshot:
                screenshot(f"{url}/c/{quote(chosen, safe='')}", args.screenshot)
                print(f"\nscreenshot saved to {args.screenshot}")
            if args.serve:
                print(f"\nthe viewer is on {url}/ (Ctrl+C to stop)")
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    pass


if __name__ == "__main__":
    main()
