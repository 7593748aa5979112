"""A question answered in a real browser (headless Chromium, issue 16): the
<tidings-inbox> widget shows a ctx.ask item's action buttons; a click answers it, the
waiting run completes with that Answer, and the item then shows who answered what."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.contract.notify_support import write_templates
from tests.serving import serve
from tidings import Context, RunStatus, Tidings
from tidings.engine.worker import Worker

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = os.environ.get("TIDINGS_CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).exists():  # `make browser` installs it; CI runs that first
    pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")

A11Y = (Path(__file__).parent / "a11y.js").read_text()
PAGE = """<!doctype html><html lang="en"><head><title>Hospital desk</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family:system-ui;margin:16px"><h1 style="font-size:20px">Desk</h1>
<script src="/inbox.js"></script>
<tidings-inbox base-url="" token="{token}" locale="en" tab="all" open></tidings-inbox>
</body></html>"""
TEMPLATES = {
    "quote/en/in_app.title": "Quote {{ quote }}",
    "quote/en/in_app.body": "A provider quoted {{ price }} for {{ quote }}.",
    "quote/en/actions.json": '{"labels": {"accept": "Accept the quote", "decline": "Decline"}}',
}


@dataclass
class Stack:
    app: Tidings
    url: str
    browser: Any


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("answers")
    app = Tidings(
        f"sqlite:///{folder / 'answers.db'}",
        environment="staging",
        templates=write_templates(folder / "templates", TEMPLATES),
        secret_key="a" * 32,
    )
    app.notification_type("quote", channels=("in_app",))
    app.recipients.upsert("hospital", locale="en")

    @app.task
    async def approve(ctx: Context, payload: dict[str, Any]) -> Any:
        answer = await ctx.ask("quote", to="hospital", data=payload, timeout=timedelta(hours=48))
        return None if answer is None else answer.to_json()

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


def test_a_click_on_an_action_button_completes_the_run(stack: Stack) -> None:
    app = stack.app
    run_id = app.trigger("approve", {"quote": "Q-42", "price": "1,200 USD"}).id
    _wait(lambda: app.get_run(run_id).status is RunStatus.WAITING)
    _wait(lambda: len(app.inbox.list("hospital")) == 1)
    context = stack.browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        html = PAGE.format(token=app.inbox_token("hospital"))
        page.route(
            stack.url + "/desk",
            lambda route: route.fulfill(body=html, content_type="text/html; charset=utf-8"),
        )
        page.goto(stack.url + "/desk")
        accept = page.wait_for_selector('tidings-inbox .ti-answer[data-action="accept"]')
        assert accept is not None
        assert accept.inner_text() == "Accept the quote"
        assert page.inner_text('tidings-inbox .ti-answer[data-action="decline"]') == "Decline"
        problems = page.evaluate(A11Y)
        assert problems == [], problems
        # by selector: the list re-renders as items are marked seen (a handle may go stale)
        page.click('tidings-inbox .ti-answer[data-action="accept"]')
        page.wait_for_selector("tidings-inbox .ti-answered")
        shown = page.inner_text("tidings-inbox .ti-answered")
        assert shown == "Answered: Accept the quote (by hospital)"
        assert page.query_selector("tidings-inbox .ti-answer") is None
        _wait(lambda: app.get_run(run_id).status is RunStatus.COMPLETED)
        # a reload shows the answer from the server, not from the click
        page.reload()
        page.wait_for_selector("tidings-inbox .ti-answered")
        assert page.inner_text("tidings-inbox .ti-answered") == shown
    finally:
        context.close()
    result = app.get_run(run_id).result
    assert (result["action"], result["channel"], result["recipient"]) == (
        "accept",
        "in_app",
        "hospital",
    )
