"""End to end in a real headless Chromium (Debian's, driven by Playwright) against uvicorn."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
import uvicorn
from viewer_support import (
    HOSTILE_IMG,
    HOSTILE_SCRIPT,
    chat_run,
    demo_conversation,
    demo_ids,
    export,
    make_run,
)

from convtrack.sinks._prices import prices_available
from convtrack.viewer import create_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = os.environ.get("CONVTRACK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 15_000  # the page polls every 1.5 s; this only bounds a failure


def _unavailable(reason: str) -> None:
    """Skip on a developer's machine; fail in CI, which must run these tests."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the browser tests (.ci/run installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, launched once for this module."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -r requirements-dev.txt)")
    if not Path(CHROMIUM).is_file():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def served(demo_db: Path) -> Iterator[str]:
    """The viewer over a copy of the demo store, on a real uvicorn at a free 127.0.0.1 port."""
    app = create_app(demo_db)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", ws="none"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        app.state.store.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page; afterwards, no script error, console error, CSP report or dialog."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    troubles: list[str] = []
    opened.on("pageerror", lambda exc: troubles.append(f"page error: {exc}"))

    def on_console(message: Any) -> None:
        url = message.location.get("url", "")
        if message.type != "error":
            return
        if "status of 404" in message.text and "/api/conversations/" in url:
            return  # a conversation not recorded yet: the page waits for it
        if "status of 400" in message.text and "/api/conversations?" in url:
            return  # a filter the API refused: the page says why
        troubles.append(f"console: {message.text} ({url})")

    opened.on("console", on_console)

    def on_dialog(dialog: Any) -> None:
        troubles.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    opened.on("dialog", on_dialog)
    opened.set_default_timeout(WAIT_MS)
    yield opened
    context.close()
    assert troubles == []


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def test_the_list_shows_the_demo_and_a_click_shows_the_transcript(
    page: Page, served: str, demo_db: Path
) -> None:
    """The list shows the demo's conversations; clicking one shows its turns and run tree."""
    expect = _expect()
    ids = demo_ids(demo_db)
    page.goto(served)
    expect(page.locator("#conversations .conv-id")).to_have_text(ids)
    expect(page.locator("#live")).to_have_text("live")
    alice = demo_conversation(demo_db, "user-alice")
    page.locator(".conv", has_text=alice).click()
    expect(page).to_have_url(f"{served}/c/{alice}")
    turns = page.locator("article.turn:not(.activity)")
    expect(turns).to_have_count(3)
    first = turns.nth(0)
    expect(first.locator(".msg-user .msg-text")).to_have_text(
        "Hi, my order #12345 has not arrived."
    )
    expect(first.locator(".msg-assistant .msg-text")).to_contain_text(
        "Order #12345 shipped yesterday"
    )
    expect(turns.nth(2).locator(".msg-user .msg-text")).to_have_text("Thanks!")
    expect(page.locator("article.activity .turn-name")).to_have_text("summarise-conversation")
    first.locator("details.runs > summary").click()
    expect(first.locator(".run-name")).to_have_text(
        ["support-turn", "retrieve", "lookup_order", "chat.completions"]
    )
    expect(first.locator(".run-model")).to_have_text("demo-model-1")
    expect(first.locator(".node .kind")).to_have_text(["chain", "retriever", "tool", "llm"])
    first.locator(".run-name", has_text="chat.completions").click()
    expect(first.locator("pre.json").first).to_contain_text('"role": "user"')
    expect(page.locator(".timeline .tl-row")).to_have_count(11)
    page.locator(".crumbs a").click()
    expect(page.locator("#conversations .conv")).to_have_count(len(ids))


def test_a_new_run_appears_without_a_reload(page: Page, served: str, demo_db: Path) -> None:
    """A run written to the store shows up in the open conversation and in the list, live."""
    expect = _expect()
    target = demo_conversation(demo_db, "user-carol")
    page.goto(f"{served}/c/{quote(target, safe='')}")
    turns = page.locator("article.turn:not(.activity)")
    expect(turns).to_have_count(2)
    turns.nth(0).locator("details.runs > summary").click()
    page.evaluate("window.__sameDocument = true")
    export(demo_db, chat_run(target, [{"role": "user", "content": "Is it there yet?"}], "Soon."))
    expect(turns).to_have_count(3)
    expect(turns.nth(2).locator(".msg-user .msg-text")).to_have_text("Is it there yet?")
    expect(turns.nth(2).locator(".msg-assistant .msg-text")).to_have_text("Soon.")
    expect(turns.nth(0).locator("details.runs")).to_have_attribute("open", "")
    assert page.evaluate("window.__sameDocument") is True
    page.goto(served)
    expect(page.locator("#conversations .conv-id").first).to_have_text(target)
    page.evaluate("window.__sameDocument = true")
    export(demo_db, chat_run("conv-live", [{"role": "user", "content": "hello"}], "hi"))
    expect(page.locator("#conversations .conv-id").first).to_have_text("conv-live")
    assert page.evaluate("window.__sameDocument") is True


def test_a_conversation_that_does_not_exist_yet_appears(
    page: Page, served: str, demo_db: Path
) -> None:
    """An unknown conversation's page waits, then shows its first run when it is stored."""
    expect = _expect()
    page.goto(f"{served}/c/tenant%2Fconv%3F1")
    expect(page.locator(".notice")).to_contain_text("No runs recorded")
    expect(page.locator(".conv-title")).to_have_text("tenant/conv?1")
    export(demo_db, chat_run("tenant/conv?1", [{"role": "user", "content": "first!"}], "ok"))
    expect(page.locator(".msg-user .msg-text")).to_have_text("first!")


def test_hostile_content_is_shown_as_text_and_never_runs(
    page: Page, served: str, demo_db: Path
) -> None:
    """<script> and <img onerror> in ids, names and messages are displayed, not executed."""
    expect = _expect()
    hostile_id = f"x{HOSTILE_SCRIPT}/{HOSTILE_IMG}"
    export(
        demo_db,
        chat_run(
            hostile_id,
            [{"role": "user", "content": HOSTILE_SCRIPT}],
            HOSTILE_IMG,
            name=HOSTILE_IMG,
            user_id=HOSTILE_SCRIPT,
            model=HOSTILE_IMG,
            error=HOSTILE_SCRIPT,
            status="error",
        ),
    )
    page.goto(served)
    row = page.locator(".conv").first
    expect(row.locator(".conv-id")).to_have_text(hostile_id)
    expect(row.locator(".c-user")).to_contain_text(HOSTILE_SCRIPT)
    row.click()
    expect(page.locator(".conv-title")).to_contain_text(hostile_id)
    expect(page.locator(".msg-user .msg-text")).to_have_text(HOSTILE_SCRIPT)
    expect(page.locator(".msg-assistant .msg-text")).to_have_text(HOSTILE_IMG)
    expect(page.locator(".msg-error .msg-text")).to_have_text(HOSTILE_SCRIPT)
    page.locator("details.runs > summary").click()
    page.locator(".run-name").click()
    expect(page.locator(".run-name")).to_have_text(HOSTILE_IMG)
    expect(page.locator("pre.json").first).to_contain_text(HOSTILE_SCRIPT)
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("script").count() == 1
    assert page.evaluate("window.__pwned") is None


def test_filters_narrow_the_list_and_live_in_the_url(
    page: Page, served: str, demo_db: Path
) -> None:
    """User, id and time filters narrow the list, are kept in the URL, and Clear resets them."""
    expect = _expect()
    everyone = len(demo_ids(demo_db))
    page.goto(served)
    rows = page.locator("#conversations .conv")
    expect(rows).to_have_count(everyone)
    page.fill("input[name=user_id]", "user-bob")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".c-user")).to_contain_text("user-bob")
    expect(page).to_have_url(f"{served}/?user_id=user-bob")
    page.reload()
    expect(page.locator("input[name=user_id]")).to_have_value("user-bob")
    expect(rows).to_have_count(1)
    page.click("button[type=reset]")
    expect(rows).to_have_count(everyone)
    page.select_option("select[name=since]", "7d")
    expect(rows).to_have_count(everyone)
    page.fill("input[name=q]", "no-such-conversation")
    expect(rows).to_have_count(0)
    expect(page.locator(".count")).to_have_text("No conversation matches these filters.")


@pytest.mark.parametrize("width", [390, 768, 1440])
def test_readable_from_phone_to_laptop(
    browser: Browser, served: str, demo_db: Path, width: int
) -> None:
    """At phone, tablet and laptop widths nothing overflows sideways, even long content."""
    expect = _expect()
    long_id = "tenant-" + "x" * 120
    unbroken = "https://example.invalid/" + "a" * 400
    export(demo_db, chat_run(long_id, [{"role": "user", "content": unbroken}], unbroken * 5))
    context = browser.new_context(viewport={"width": width, "height": 900})
    view = context.new_page()
    try:
        view.goto(served)
        expect(view.locator("#conversations .conv")).to_have_count(len(demo_ids(demo_db)))
        assert view.evaluate("document.documentElement.scrollWidth") <= width
        expect(view.locator(".conv-head-row")).to_be_visible(visible=width > 720)
        view.goto(f"{served}/c/{demo_conversation(demo_db, 'user-alice')}")
        expect(view.locator("details.runs > summary")).to_have_count(4)
        for summary in view.locator("details.runs > summary").all():
            summary.click()
        view.locator(".run-name", has_text="chat.completions").first.click()
        expect(view.locator("pre.json").first).to_be_visible()
        assert view.evaluate("document.documentElement.scrollWidth") <= width
        view.goto(f"{served}/c/{long_id}")
        view.locator("details.runs > summary").click()
        view.locator(".run-name").click()
        expect(view.locator("pre.json").first).to_be_visible()
        expect(view.locator(".msg-assistant .more")).to_have_text("Show all")
        assert view.evaluate("document.documentElement.scrollWidth") <= width
    finally:
        context.close()


def test_filters_for_metadata_text_and_status_and_the_totals(
    page: Page, served: str, demo_db: Path
) -> None:
    """The metadata, text and status filters narrow the live list; tokens, cost and errors
    show in the list and in the conversation's header."""
    expect = _expect()
    export(
        demo_db,
        chat_run(
            "conv-refund",
            [{"role": "user", "content": "I want a refund for parcel 77"}],
            "Refund issued.",
            metadata={"customer_id": "cust-77"},
            model="gpt-4o-mini",
            source="openai",
            usage={"prompt_tokens": 1200, "completion_tokens": 300},
            status="error",
            error="TimeoutError: slow",
        ),
    )
    page.goto(served)
    ids = page.locator("#conversations .conv-id")
    expect(ids.first).to_have_text("conv-refund")
    row = page.locator(".conv", has_text="conv-refund")
    expect(row.locator(".c-tokens")).to_contain_text("1.5k")
    cost = "$0.00036" if prices_available() else "—"  # genai-prices needs Python 3.11
    expect(row.locator(".c-cost")).to_have_text(cost)
    expect(row.locator(".c-errors")).to_contain_text("1")
    expect(row.locator(".c-preview")).to_have_text("I want a refund for parcel 77")
    page.fill("input[name=metadata]", "customer_id=cust-77")
    expect(ids).to_have_text(["conv-refund"])
    expect(page).to_have_url(f"{served}/?metadata=customer_id%3Dcust-77")
    page.fill("input[name=metadata]", "customer_id=cust-78")
    expect(page.locator(".count")).to_have_text("No conversation matches these filters.")
    page.fill("input[name=metadata]", "")
    page.fill("input[name=text]", "REFUND for parcel")
    expect(ids).to_have_text(["conv-refund"])
    page.fill("input[name=text]", 'NEAR("refund" *')  # query syntax is just text: no match
    expect(page.locator(".count")).to_have_text("No conversation matches these filters.")
    page.fill("input[name=text]", "")
    page.select_option("select[name=status]", "error")
    expect(ids.first).to_have_text("conv-refund")
    for error_count in page.locator("#conversations .c-errors").all_text_contents():
        assert not error_count.startswith("0")
    page.fill("input[name=metadata]", "no equals sign")
    expect(page.locator(".count")).to_contain_text("metadata:")
    page.fill("input[name=metadata]", "")
    page.locator(".conv", has_text="conv-refund").click()
    expect(page.locator(".fact", has_text="cost")).to_contain_text(cost)
    expect(page.locator(".fact", has_text="tokens")).to_contain_text("1,500")


def test_older_pages_follow_the_cursor(page: Page, served: str, demo_db: Path) -> None:
    """With more conversations than a page holds, Older shows the next page, Newest the first."""
    expect = _expect()
    ids = demo_ids(demo_db)
    page.goto(f"{served}/?limit=2")
    shown = page.locator("#conversations .conv-id")
    expect(shown).to_have_text(ids[:2])
    page.get_by_role("button", name="Older →").click()
    expect(shown).to_have_text(ids[2:4])
    page.get_by_role("button", name="Newest").click()
    expect(shown).to_have_text(ids[:2])


def test_feedback_and_ended_filters_and_the_conversations_feedback(
    page: Page, served: str, demo_db: Path
) -> None:
    """The feedback and state filters narrow the live list; rows say open or ended; the
    conversation shows its state and feedback (as text)."""
    from convtrack import ConversationEnd, Feedback, SQLiteSink

    expect = _expect()
    run = chat_run("conv-judged", [{"role": "user", "content": "hi"}], "hello")
    export(demo_db, run)
    now = datetime.now(timezone.utc)
    sink = SQLiteSink(demo_db)
    common = {"user_id": None, "created_at": now, "score": None, "value": None, "comment": None}
    sink.export_events(
        [
            Feedback("f1", "conv-judged", None, "thumbs", **{**common, "score": 1.0}),
            Feedback(
                "f2",
                "conv-judged",
                run.run_id,
                "label",
                **{**common, "value": {"topic": "greeting"}, "comment": HOSTILE_SCRIPT},
            ),
            ConversationEnd("conv-judged", now),
        ]
    )
    sink.close()
    page.goto(served)
    ids = page.locator("#conversations .conv-id")
    expect(ids.first).to_have_text("conv-judged")
    judged = page.locator(".conv", has_text="conv-judged")
    expect(judged.locator(".badge-ended")).to_have_text("ended")
    expect(judged.locator(".badge-feedback")).to_have_text("2 feedback")
    expect(page.locator(".conv").nth(1).locator(".badge-open")).to_have_text("open")
    page.fill("input[name=feedback]", "thumbs")
    expect(ids).to_have_text(["conv-judged"])
    expect(page).to_have_url(f"{served}/?feedback=thumbs")
    page.fill("input[name=feedback]", "")
    page.select_option("select[name=ended]", "false")
    expect(ids.first).not_to_have_text("conv-judged")
    expect(page.locator(".conv", has_text="conv-judged")).to_have_count(0)
    expect(page.locator(".badge-ended")).to_have_count(0)
    page.select_option("select[name=ended]", "true")
    expect(ids).to_have_text(["conv-judged"])
    expect(page).to_have_url(f"{served}/?ended=true")
    page.locator(".conv", has_text="conv-judged").click()
    expect(page.locator(".fact", has_text="state")).to_contain_text("ended")
    items = page.locator(".fb-item")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text("thumbs")
    expect(items.nth(0)).to_contain_text("score 1")
    expect(items.nth(0)).to_contain_text("on the conversation")
    expect(items.nth(1)).to_contain_text('{"topic":"greeting"}')
    expect(items.nth(1)).to_contain_text(HOSTILE_SCRIPT)  # shown as text, never run
    expect(items.nth(1)).to_contain_text(f"on run {run.run_id}")


def test_a_turn_card_counts_a_nested_llm_call_once(page: Page, served: str, demo_db: Path) -> None:
    """A chat model's run and the SDK call inside it are one model call: their tokens count
    once on the turn's card, as in the conversation's totals."""
    expect = _expect()
    usage = {"input_tokens": 10, "output_tokens": 4}
    outer = chat_run(
        "conv-nested", [{"role": "user", "content": "hi"}], "hello", usage=usage, model="m"
    )
    inner = make_run("conv-nested", parent=outer, usage=usage, model="m", source="openai")
    export(demo_db, outer, inner)
    page.goto(f"{served}/c/conv-nested")
    expect(page.locator(".fact", has_text="tokens")).to_contain_text("14")
    expect(page.locator(".turn .turn-head")).to_contain_text("14 tok")
