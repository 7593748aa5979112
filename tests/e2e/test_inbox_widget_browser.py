"""Issue 22, finding 8: the embeddable inbox in a real browser (headless Chromium) stops,
and says so, when its token expires and it has no getToken, instead of reconnecting
about once a second forever."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.contract.notify_support import write_templates
from tests.serving import serve
from tidings import Tidings

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = os.environ.get("TIDINGS_CHROMIUM", "/usr/bin/chromium")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing: run `make browser`", allow_module_level=True)

PAGE = """<!doctype html><html lang="en"><body><div id="inbox"></div>
<script src="/inbox.js"></script>
<script>
  window.widget = TidingsInbox.mount(document.getElementById("inbox"), {
    baseUrl: "", token: "%s", locale: "en", open: true,
  });
</script></body></html>"""


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Tidings]:
    a = Tidings(
        f"sqlite:///{tmp_path / 'w.db'}",
        environment="staging",
        templates=write_templates(tmp_path / "templates"),
        secret_key="w" * 32,
    )
    a.notification_type("alert", channels=("in_app",))
    a.recipients.upsert("alice")
    yield a
    a.close()


def test_without_get_token_the_widget_stops_when_its_token_expires(app: Tidings) -> None:
    token = app.inbox_token("alice", ttl=timedelta(seconds=3))
    with serve(app.asgi()) as url, playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            streams: list[Any] = []
            page.on("request", lambda r: streams.append(r) if "/inbox/stream" in r.url else None)
            page.goto(url + "/healthz")  # same origin as the API: no CORS needed
            page.set_content(PAGE % token)
            page.wait_for_function(
                "() => { const s = document.querySelector('.ti-status');"
                " return s && !s.hidden && s.textContent.startsWith('Live updates stopped'); }",
                timeout=45_000,  # generous: a loaded machine starts Chromium slowly
            )
            opened = len(streams)
            time.sleep(3)  # long enough for the old widget to have reconnected three times
            assert len(streams) == opened
            assert opened <= 2
        finally:
            browser.close()
