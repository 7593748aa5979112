"""Inbox v2 in a real browser (headless Chromium): the <tidings-inbox> web component in
two tabs of one recipient, snooze and its return pushed by the server's durable timer,
the preference centre turning a channel off so the next notification skips it, the
accessibility check (tests/e2e/a11y.js) on the widget and the centre, and screenshots
at 1280 and 390 px (in $TIDINGS_TEST_OUTPUT/inbox, default test-output/inbox)."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.contract.notify_support import write_templates
from tests.serving import serve
from tidings import Tidings
from tidings.engine.worker import Worker

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = os.environ.get("TIDINGS_CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).exists():  # `make browser` installs it; CI runs that first
    pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")

OUT = Path(os.environ.get("TIDINGS_TEST_OUTPUT", "test-output")) / "inbox"
A11Y = (Path(__file__).parent / "a11y.js").read_text()
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PAGE = """<!doctype html><html lang="{locale}"><head><title>Ward 3</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family:system-ui;margin:16px"><h1 style="font-size:20px">Ward 3</h1>
<script src="/inbox.js"></script>
<tidings-inbox base-url="" token="{token}" locale="{locale}" tab="all" open></tidings-inbox>
</body></html>"""


@dataclass
class Stack:
    app: Tidings
    url: str
    browser: Any


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    folder = tmp_path_factory.mktemp("inbox")
    app = Tidings(
        f"sqlite:///{folder / 'inbox.db'}",
        environment="staging",
        templates=write_templates(folder / "templates"),
        secret_key="i" * 32,
    )
    app.notification_type("alert", channels=("in_app", "email"))
    app.notification_type("urgent", channels=("in_app", "email"), critical=True)
    app.recipients.upsert(
        "alice", email="alice@example.com", locale="en", timezone="Asia/Ho_Chi_Minh"
    )
    holder: dict[str, Worker] = {}
    started = threading.Event()

    def work() -> None:
        async def main() -> None:
            holder["w"] = app.worker(concurrency=4, poll_interval=0.1)
            started.set()
            await holder["w"].run()

        asyncio.run(main())

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    started.wait(10)
    with serve(app.asgi()) as url, playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield Stack(app, url, browser)
        finally:
            browser.close()
            holder["w"].stop()
            thread.join(15)
            app.close()


def _wait(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _open(stack: Stack, context: Any, locale: str = "en") -> Any:
    page = context.new_page()
    html = PAGE.format(token=stack.app.inbox_token("alice"), locale=locale)
    # a real navigation on the API's origin (set_content's document.write does not
    # upgrade custom elements)
    page.route(
        stack.url + "/ward",
        lambda route: route.fulfill(body=html, content_type="text/html; charset=utf-8"),
    )
    page.goto(stack.url + "/ward")
    page.wait_for_selector("tidings-inbox .ti-item, tidings-inbox .ti-empty")
    return page


def _ids(page: Any) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(
        "tidings-inbox .ti-item", "rows => rows.map(r => r.dataset.id)"
    )
    return ids


def _a11y(page: Any) -> None:
    problems = page.evaluate(A11Y)
    assert problems == [], problems


def _notify(app: Tidings, n: int) -> list[str]:
    before = len(app.inbox.list("alice", status="all"))
    for i in range(n):
        app.notify("alert", to="alice", data={"name": f"bed {i + 1}"}, channels=["in_app"])
    _wait(lambda: len(app.inbox.list("alice", status="all")) == before + n)
    return [i.id for i in app.inbox.list("alice", status="all")]


def test_two_tabs_converge_snooze_returns_and_the_badge_counts_unseen(stack: Stack) -> None:
    app = stack.app
    ids = _notify(app, 4)
    assert app.inbox.counts("alice").unseen == 4
    context = stack.browser.new_context(viewport=DESKTOP)
    try:
        one, two = _open(stack, context), _open(stack, context)
        assert _ids(one) == ids
        assert _ids(two) == ids
        # an open panel marks what it shows seen: the badge (unseen) empties
        _wait(lambda: app.inbox.counts("alice").unseen == 0)
        one.wait_for_function("() => document.querySelector('tidings-inbox .ti-badge').hidden")
        _a11y(one)
        one.screenshot(path=str(OUT / "inbox-1280.png"), full_page=True)

        # archive in one tab: it leaves the other within 2 s
        archived = ids[1]
        started = time.monotonic()
        one.click(f'tidings-inbox li[data-id="{archived}"] .ti-archive')
        two.wait_for_function(
            f"() => !document.querySelector('tidings-inbox li[data-id=\"{archived}\"]')",
            timeout=2000,
        )
        assert time.monotonic() - started < 2
        assert app.inbox.list("alice", status="archived")[0].id == archived

        # snooze from the menu (keyboard): gone from both tabs for an hour
        snoozed = ids[0]
        one.focus(f'tidings-inbox li[data-id="{snoozed}"] .ti-snooze')
        one.keyboard.press("Enter")
        assert one.evaluate("document.activeElement.getAttribute('role')") == "menuitem"
        one.keyboard.press("Enter")  # "In 1 hour"
        for page in (one, two):
            page.wait_for_function(
                f"() => !document.querySelector('tidings-inbox li[data-id=\"{snoozed}\"]')",
                timeout=2000,
            )
        (item,) = app.store.inbox.items("alice", [snoozed])
        assert item.snoozed_until is not None
        left = item.snoozed_until - datetime.now(UTC)
        assert timedelta(minutes=59) < left <= timedelta(hours=1)

        # a snooze of seconds (through the API) comes back by itself, unread, in both
        back = ids[2]
        token = app.inbox_token("alice")
        until = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
        answer = httpx.post(
            stack.url + "/api/v1/inbox/snooze",
            json={"ids": [back], "until": until},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 200
        gone = f"() => !document.querySelector('tidings-inbox li[data-id=\"{back}\"]')"
        returned = f"() => !!document.querySelector('tidings-inbox li[data-id=\"{back}\"]')"
        two.wait_for_function(gone, timeout=2000)
        two.wait_for_function(returned, timeout=15_000)
        one.wait_for_function(returned, timeout=2000)
        assert app.inbox.list("alice", status="unread")[0].id == back

        # mark unread / read, and the Unread tab by keyboard
        one.click(f'tidings-inbox li[data-id="{ids[3]}"] .ti-open')
        _wait(lambda: app.store.inbox.items("alice", [ids[3]])[0].read_at is not None)
        one.click(f'tidings-inbox li[data-id="{ids[3]}"] .ti-unread-btn')
        _wait(lambda: app.store.inbox.items("alice", [ids[3]])[0].read_at is None)
        one.focus("tidings-inbox .ti-tab[data-tab=all]")
        one.keyboard.press("ArrowLeft")
        one.wait_for_selector("tidings-inbox .ti-tab[data-tab=unread][aria-selected=true]")
        one.wait_for_function(
            "() => document.querySelectorAll('tidings-inbox .ti-item').length === 2"
        )
        one.click("tidings-inbox .ti-tab[data-tab=archived]")
        one.wait_for_function(
            f"() => !!document.querySelector('tidings-inbox li[data-id=\"{archived}\"]')"
        )
        one.click(f'tidings-inbox li[data-id="{archived}"] .ti-unarchive')
        two.wait_for_function(
            f"() => !!document.querySelector('tidings-inbox li[data-id=\"{archived}\"]')",
            timeout=2000,
        )
        _a11y(one)
    finally:
        context.close()


def test_the_widget_in_vietnamese_on_a_phone(stack: Stack) -> None:
    _notify(stack.app, 1)
    context = stack.browser.new_context(viewport=PHONE)
    try:
        page = _open(stack, context, locale="vi")
        assert page.inner_text("tidings-inbox .ti-tab[data-tab=all]") == "Tất cả"
        assert page.get_attribute("tidings-inbox .ti-gear", "aria-label") == "Tùy chọn thông báo"
        _a11y(page)
        page.screenshot(path=str(OUT / "inbox-390.png"), full_page=True)
    finally:
        context.close()


def test_the_preference_centre_turns_email_off_and_the_next_notification_skips_it(
    stack: Stack,
) -> None:
    app = stack.app
    _notify(app, 1)
    context = stack.browser.new_context(viewport=PHONE)
    try:
        page = _open(stack, context)
        with context.expect_page() as opened:
            page.click("tidings-inbox .ti-gear")
        centre = opened.value
        centre.wait_for_selector("h1")
        assert centre.get_attribute("html", "lang") == "en"
        assert centre.is_disabled(
            'input[type=checkbox][value="urgent|email"]'
        )  # critical: locked on
        assert "Always on" in centre.inner_text("body")
        _a11y(centre)
        centre.screenshot(path=str(OUT / "preferences-390.png"), full_page=True)
        centre.set_viewport_size(DESKTOP)
        centre.screenshot(path=str(OUT / "preferences-1280.png"), full_page=True)
        centre.uncheck('input[type=checkbox][value="alert|email"]')
        centre.click("button[type=submit]")
        centre.wait_for_selector("text=Saved.")
        assert centre.is_checked('input[type=checkbox][value="alert|in_app"]')
        assert not centre.is_checked('input[type=checkbox][value="alert|email"]')
    finally:
        context.close()
    assert app.preferences.get("alice", type="alert", channel="email") is False
    (change,) = app.preferences.changes("alice")
    assert change.actor == "recipient"
    assert change.origin is not None
    assert change.origin.startswith("preference centre")
    result = app.notify("alert", to="alice", data={"name": "bed 9"}).result(timeout=15)
    email = result.channel("email")
    in_app = result.channel("in_app")
    assert email is not None
    assert email.status == "suppressed"
    assert email.reason == "opted out"
    assert in_app is not None
    assert in_app.status == "delivered"
