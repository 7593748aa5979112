"""The dashboard in a real headless Chromium (Debian's package, driven by Playwright).

A real app on a SQLite file, a real worker thread and uvicorn on loopback; the browser
signs in, triggers a task, watches it finish live, cancels a waiting run, replays a
failed one, and every page is screenshotted at desktop and phone widths and checked by
tests/e2e/a11y.js (labels, names, contrast) and a keyboard walk (focus order).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pydantic
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.serving import serve
from tidings import Context, Retry, RunStatus, Tidings
from tidings.dashboard import dashboard
from tidings.dashboard.auth import hash_password
from tidings.dashboard.environments import EnvironmentDashboards
from tidings.engine.worker import Worker

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = os.environ.get("TIDINGS_CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).exists():  # `make browser` installs it; CI runs that first
    pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")

PASSWORD = "e2e password"
OUT = Path(os.environ.get("TIDINGS_TEST_OUTPUT", "test-output")) / "dashboard"
A11Y = (Path(__file__).parent / "a11y.js").read_text()
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


class Signup(pydantic.BaseModel):
    user_id: str
    steps: int = 3


TEMPLATES = {
    "welcome/en/email.subject": "Welcome, {{ name }}",
    "welcome/en/email.html": (
        "<h1 style='color:#0a58ca'>Welcome, {{ name }}!</h1><p>Your account is ready.</p>"
        "<script>document.body.innerHTML = 'script ran'</script>"
        "<img src='http://192.0.2.1/pixel.png' alt=''>"
    ),
    "welcome/en/email.txt": "Welcome, {{ name }}! Your account is ready.",
    "welcome/en/sms.txt": "Hi {{ name }}, welcome aboard. Reply STOP to opt out. ✓",
    "welcome/en/in_app.title": "Welcome, {{ name }}",
    "welcome/en/in_app.body": "Start by completing your profile.",
}


def build_app(url: str, templates: Path) -> Tidings:
    for name, text in TEMPLATES.items():
        (templates / name).parent.mkdir(parents=True, exist_ok=True)
        (templates / name).write_text(text, encoding="utf-8")
    app = Tidings(url, environment="staging", templates=templates)
    app.notification_type("welcome", channels=("email", "sms", "in_app"))

    @app.task
    async def welcome_user(ctx: Context, payload: dict[str, Any]) -> None:
        await ctx.notify("welcome", to=payload["user"], data={"name": payload["name"]})

    @app.task
    async def onboard(ctx: Context, payload: Signup) -> dict[str, Any]:
        for i in range(payload.steps):
            await ctx.step(f"stage-{i}", _slow, i)
            ctx.logger.info("stage %d done for %s", i, payload.user_id)
        return {"user": payload.user_id, "stages": payload.steps}

    @app.task
    async def await_payment(ctx: Context, payload: dict[str, Any]) -> Any:
        ev = await ctx.wait_for_event(
            "payment.received", match={"order": payload["order"]}, timeout=timedelta(days=2)
        )
        return None if ev is None else ev.data

    @app.task(retry=Retry(max_attempts=1))
    async def flaky(ctx: Context, payload: dict[str, Any]) -> None:
        await ctx.step("charge", _explode, payload.get("card", "4242"))

    @app.task(cron="*/15 * * * *", timezone="Asia/Ho_Chi_Minh")
    async def digest(ctx: Context, payload: dict[str, Any]) -> None:
        pass

    return app


async def _slow(i: int) -> int:
    await asyncio.sleep(0.6)
    return i * 10


def _explode(card: str) -> None:
    raise RuntimeError(f"card {card} declined")


@dataclass
class Stack:
    app: Tidings
    url: str
    browser: Any


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    folder = tmp_path_factory.mktemp("dash")
    app = build_app(f"sqlite:///{folder / 'e2e.db'}", folder / "templates")
    app.recipients.upsert("u-ana", email="ana@example.com", phone="+84901234567", locale="en")
    holder: dict[str, Worker] = {}
    started = threading.Event()

    def work() -> None:
        async def main() -> None:
            holder["w"] = app.worker(concurrency=4, poll_interval=0.2)
            started.set()
            await holder["w"].run()

        asyncio.run(main())

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    started.wait(10)
    asgi = Starlette(
        routes=[
            Mount(
                "/dashboard",
                dashboard(
                    app,
                    password_hash=hash_password(PASSWORD, n=2**10),
                    secret_key="e2e",
                    poll_interval=0.25,
                ),
            )
        ]
    )
    with serve(asgi) as url, playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield Stack(app, url + "/dashboard", browser)
        finally:
            browser.close()
            holder["w"].stop()
            thread.join(15)
            app.close()


@pytest.fixture
def page(stack: Stack) -> Iterator[Any]:
    context = stack.browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("dialog", lambda dialog: dialog.accept())  # the confirmations
    page.goto(stack.url + "/runs")
    assert "/login" in page.url  # nothing without signing in
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/dashboard/runs$"))
    yield page
    context.close()


def shoot(page: Any, name: str) -> None:
    """Screenshots at desktop and phone widths, and the accessibility checks at both."""
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.screenshot(path=str(OUT / f"{name}-{label}.png"), full_page=True)
        problems = page.evaluate(A11Y)
        assert problems == [], f"{name} at {label} width: {problems}"
    page.set_viewport_size(DESKTOP)
    check_keyboard(page, name)


def check_keyboard(page: Any, name: str) -> None:
    """Tab walks the controls in document order, each with a visible focus ring."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.evaluate("window.scrollTo(0, 0)")
    order: list[dict[str, Any]] = []
    for _ in range(12):
        page.keyboard.press("Tab")
        info = page.evaluate(
            """() => {
                const el = document.activeElement;
                if (!el || el === document.body) return null;
                const all = Array.from(document.querySelectorAll('*'));
                const s = getComputedStyle(el);
                return {index: all.indexOf(el), tag: el.tagName,
                        ring: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0};
            }"""
        )
        if info is None:
            break
        order.append(info)
    assert order, f"{name}: Tab reaches no control"
    indexes = [o["index"] for o in order]
    assert indexes == sorted(indexes), f"{name}: focus order is not document order: {order}"
    assert all(o["ring"] for o in order), f"{name}: a focused control shows no focus ring: {order}"


def nav(page: Any, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()


def test_trigger_and_watch_a_run_complete_live(stack: Stack, page: Any) -> None:
    shoot(page, "runs-empty")
    page.get_by_role("link", name="Tasks").click()
    shoot(page, "tasks")
    task = page.locator("#task-onboard")
    task.get_by_text("Trigger with payload").click()
    box = task.get_by_label("Payload (JSON), validated against Signup")
    box.fill('{"user_id": "u1", "steps": "many"}')  # wrong type: the model rejects it
    task.get_by_role("button", name="Trigger onboard").click()
    assert "valid integer" in page.get_by_role("alert").inner_text()
    box = page.locator("#task-onboard").get_by_label("Payload (JSON), validated against Signup")
    box.fill('{"user_id": "u1", "steps": ')
    assert "Not valid JSON" in page.locator("#task-onboard [data-json-error]").inner_text()
    box.fill('{"user_id": "u1", "steps": 4}')
    page.locator("#task-onboard").get_by_role("button", name="Trigger onboard").click()
    page.wait_for_url(re.compile(r"/runs/run_\w+\?done=triggered"))
    run_id = page.url.split("/runs/")[1].split("?")[0]
    live = page.locator("#live")
    # The page is never reloaded: the live part updates as steps complete.
    page.evaluate("window.__marker = 'same page'")
    live.locator(".step-name", has_text="stage-1").wait_for()
    assert page.evaluate("window.__marker") == "same page"
    live.locator("h1 .badge", has_text="COMPLETED").wait_for(timeout=20_000)
    assert page.evaluate("window.__marker") == "same page"
    assert int(live.get_attribute("data-updated") or 0) >= 2
    assert '"stages": 4' in live.inner_text()
    assert "stage 3 done for u1" in live.inner_text()
    run = stack.app.get_run(run_id)
    assert run.result == {"user": "u1", "stages": 4}
    shoot(page, "run-completed")


def test_runs_list_updates_live_and_filters(stack: Stack, page: Any) -> None:
    page.evaluate("window.__marker = 'same page'")
    handle = stack.app.trigger("onboard", {"user_id": "u-live", "steps": 1}, tags=["live"])
    page.locator(f"a[href$='/runs/{handle.id}']").wait_for()
    assert page.evaluate("window.__marker") == "same page"
    page.get_by_label("Tag").fill("live")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"tag=live"))
    assert page.locator("table.grid tbody tr").count() == 1
    shoot(page, "runs-filtered")


def test_cancel_a_waiting_run(stack: Stack, page: Any) -> None:
    handle = stack.app.trigger("await-payment", {"order": "o-9"})
    page.goto(f"{stack.url}/runs/{handle.id}")
    page.locator("#live").get_by_text("payment.received").first.wait_for()
    assert 'order = "o-9"' in page.locator("#live").inner_text()
    shoot(page, "run-waiting")
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_url(re.compile(r"done=cancelled"))
    page.locator("#live h1 .badge", has_text="CANCELLED").wait_for()
    assert stack.app.get_run(handle.id).status.value == "CANCELLED"


def test_replay_a_failed_run(stack: Stack, page: Any) -> None:
    handle = stack.app.trigger("flaky", {"card": "4000"})
    page.goto(f"{stack.url}/runs/{handle.id}")
    page.locator("#live h1 .badge", has_text="FAILED").wait_for()
    live = page.locator("#live")
    assert "card 4000 declined" in live.inner_text()
    live.get_by_text("Traceback").first.click()
    assert "RuntimeError" in live.locator("pre").first.inner_text()
    shoot(page, "run-failed")
    page.get_by_role("button", name="Replay", exact=True).click()
    page.wait_for_url(re.compile(r"done=replayed"))
    new_id = page.url.split("/runs/")[1].split("?")[0]
    assert new_id != handle.id
    page.locator("#live").get_by_text(handle.id).first.wait_for()  # "Replay of" links back
    assert stack.app.get_run(new_id).replay_of == handle.id


def test_select_runs_and_cancel_them(stack: Stack, page: Any) -> None:
    ids = [stack.app.trigger("digest", {}, delay=3600, tags=["picked"]).id for _ in range(3)]
    page.goto(f"{stack.url}/runs?tag=picked")
    for run_id in ids[:2]:
        page.get_by_label(f"Select run {run_id}").check()
    shoot(page, "runs-selected")
    page.get_by_role("button", name="Cancel selected").click()
    page.wait_for_url(re.compile(r"done=cancelled%3A2"))
    page.get_by_text("2 runs cancelled.").wait_for()
    statuses = [stack.app.get_run(r).status for r in ids]
    assert statuses == [RunStatus.CANCELLED, RunStatus.CANCELLED, RunStatus.QUEUED]


def test_cancel_every_run_matching_the_filter_and_follow_it(stack: Stack, page: Any) -> None:
    ids = [stack.app.trigger("digest", {}, delay=3600, tags=["sweep"]).id for _ in range(3)]
    page.goto(f"{stack.url}/runs?tag=sweep&status=QUEUED")
    page.get_by_role("button", name="Cancel all matching").click()
    page.wait_for_url(re.compile(r"/dashboard/bulk/blk_\w+$"))
    page.locator("#live").get_by_text("3 of 3 runs gone through").wait_for()
    page.locator("#live h1 .badge", has_text="completed").wait_for()
    assert page.locator("#bulk-progress").get_attribute("value") == "3"
    shoot(page, "bulk-action")
    assert {stack.app.get_run(r).status for r in ids} == {RunStatus.CANCELLED}


def test_replay_from_a_step_of_the_timeline(stack: Stack, page: Any) -> None:
    handle = stack.app.trigger("flaky", {"card": "4001"})
    page.goto(f"{stack.url}/runs/{handle.id}")
    page.locator("#live h1 .badge", has_text="FAILED").wait_for()
    page.get_by_role("button", name="Replay from step charge").click()
    page.wait_for_url(re.compile(r"done=replayed-from"))
    page.get_by_text("the steps before it were reused").wait_for()
    new_id = page.url.split("/runs/")[1].split("?")[0]
    assert stack.app.get_run(new_id).replay_of == handle.id


def test_events_overview_and_schedules(stack: Stack, page: Any) -> None:
    waiting = stack.app.trigger("await-payment", {"order": "o-42"})
    page.goto(f"{stack.url}/runs/{waiting.id}")
    page.locator("#live").get_by_text("payment.received").first.wait_for()
    page.get_by_role("link", name="Events").click()
    page.get_by_text("Send a test event").click()
    page.get_by_label("Event name", exact=True).first.fill("payment.received")
    page.get_by_label("Data (JSON)").fill('{"order": "o-42", "amount": 12}')
    page.get_by_role("button", name="Send event").click()
    page.wait_for_url(re.compile(r"sent="))
    row = page.locator("table.grid tbody tr").first
    assert "payment.received" in row.inner_text()
    row.locator(f"a[href$='/runs/{waiting.id}']").wait_for()  # the wait it resumed
    shoot(page, "events")
    page.get_by_role("link", name="Overview").click()
    assert page.locator("svg.chart rect").count() > 0
    shoot(page, "overview")
    assert "Sandbox environment" in page.locator(".banner").inner_text()
    page.get_by_role("link", name="Tasks").click()
    digest = page.locator("#task-digest")
    assert "Asia/Ho_Chi_Minh" in digest.inner_text()
    digest.get_by_role("button", name="Pause").click()
    page.locator("#task-digest").get_by_role("button", name="Resume").wait_for()
    assert [s.paused for s in stack.app.schedules.list()] == [True]
    page.locator("#task-digest").get_by_role("button", name="Resume").click()
    page.locator("#task-digest").get_by_role("button", name="Pause").wait_for()
    assert [s.paused for s in stack.app.schedules.list()] == [False]


def test_read_a_delivery_rendered_email(stack: Stack, page: Any) -> None:
    handle = stack.app.trigger("welcome-user", {"user": "u-ana", "name": "Ana"})
    page.goto(f"{stack.url}/runs/{handle.id}")
    live = page.locator("#live")
    live.get_by_role("heading", name="Notifications").wait_for()
    live.locator("h1 .badge", has_text="COMPLETED").wait_for()
    shoot(page, "run-notified")
    row = live.locator("tr", has_text="email")
    row.locator("a.mono").first.click()
    page.wait_for_url(re.compile(r"/deliveries/"))
    assert "Welcome, Ana" in page.locator("main").inner_text()  # the subject
    frame_el = page.locator("iframe.email")
    assert frame_el.get_attribute("sandbox") == ""
    frame = frame_el.content_frame
    frame.get_by_role("heading", name="Welcome, Ana!").wait_for()
    assert "script ran" not in frame.locator("body").inner_text()  # scripts never run
    shoot(page, "delivery-email")
    nav(page, "Deliveries")
    page.locator("tr", has_text="sms").locator("a.mono").first.click()
    assert "1 segment" in page.locator("main").inner_text()
    assert "UCS-2" in page.locator("main").inner_text()  # the check mark is not GSM-7
    shoot(page, "delivery-sms")
    nav(page, "Deliveries")
    shoot(page, "deliveries")
    nav(page, "Outbox")
    assert "ana@example.com" in page.locator("table.grid").inner_text()
    shoot(page, "outbox")
    nav(page, "Recipients")
    shoot(page, "recipients")
    page.get_by_role("link", name="u-ana").click()
    assert "Start by completing your profile." in page.locator("main").inner_text()
    assert "(1 unread)" in page.locator("main").inner_text()
    shoot(page, "recipient")


def test_switch_between_staging_and_production(stack: Stack, tmp_path: Path) -> None:
    """One server, two environments: the switcher goes to production's sign-in, then its
    runs (none of staging's), and back to staging without signing in again."""
    prod_url = f"sqlite:///{tmp_path / 'production.db'}"
    production = Tidings(prod_url, environment="production", secret_key="p" * 24)
    production.migrate()
    production.kernel.tasks["digest"] = stack.app.kernel.tasks["digest"]  # the same code, deployed
    live = production.trigger("digest", {})
    staged = stack.app.trigger("digest", {}, delay=3600)
    data = {
        "environments": {
            "production": {
                "database_url": prod_url,
                "secret_key": "p" * 24,
                "dashboard_password_hash": hash_password("prod password", n=2**10),
            }
        }
    }
    dashboards = EnvironmentDashboards(
        stack.app,
        ["production"],
        password_hash=hash_password(PASSWORD, n=2**10),
        data=data,
        poll_interval=0.25,
    )
    asgi = Starlette(routes=[Mount("/dashboard", dashboards)])
    context = stack.browser.new_context(viewport=DESKTOP)
    try:
        with serve(asgi) as url:
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.goto(url + "/dashboard/runs")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(re.compile(r"/dashboard/runs$"))
            assert page.get_by_role("link", name=staged.id).is_visible()
            switcher = page.get_by_label("Environment")
            assert switcher.input_value() == "staging"
            options = switcher.locator("option").all_inner_texts()
            assert options == ["staging (sandbox)", "production (live)"]
            page.screenshot(path=str(OUT / "env-staging-runs-desktop.png"))
            switcher.select_option("production")
            page.get_by_role("button", name="Go").click()
            page.wait_for_url(re.compile(r"/dashboard/production/login"))
            assert page.locator(".prod-stripe").is_visible()
            shoot(page, "env-production-login")
            page.get_by_label("Password").fill(PASSWORD)  # staging's password: refused
            page.get_by_role("button", name="Sign in").click()
            assert page.get_by_text("That password or key is not valid.").is_visible()
            page.get_by_label("Password").fill("prod password")
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(re.compile(r"/dashboard/production/$"))
            nav(page, "Runs")
            page.wait_for_url(re.compile(r"/dashboard/production/runs$"))
            table = page.locator("main").inner_text()
            assert live.id in table
            assert staged.id not in table
            shoot(page, "env-production-runs")
            page.get_by_label("Environment").select_option("staging")
            page.get_by_role("button", name="Go").click()
            page.wait_for_url(re.compile(r"/dashboard/$"))  # still signed in to staging
            assert page.get_by_label("Environment").input_value() == "staging"
            context.close()  # its live pages' streams, before the server stops
    finally:
        context.close()
        dashboards.close()
        production.close()


def test_export_and_erase_a_recipient(stack: Stack) -> None:
    stack.app.recipients.upsert("u-bo", email="bo@example.com", phone="+84907654321")
    context = stack.browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    answers = ["dismiss", "accept"]  # the first confirmation is refused, the second agreed
    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        getattr(dialog, answers.pop(0))()

    page.on("dialog", answer)
    page.goto(f"{stack.url}/recipients/u-bo")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/recipients/u-bo$"))
    with page.expect_download() as got:
        page.get_by_role("link", name="Export everything held about u-bo (JSON)").click()
    download = got.value
    assert download.suggested_filename == "recipient-u-bo.json"
    exported = json.loads(Path(download.path()).read_text())
    assert exported["recipient"]["email"] == "bo@example.com"

    page.get_by_label("Type the recipient id to confirm").fill("u-bo")
    page.get_by_role("button", name="Erase recipient").click()  # dismissed: nothing sent
    assert asked == ["Erase everything held about u-bo? This cannot be undone."]
    assert stack.app.recipients.get("u-bo").email == "bo@example.com"
    page.get_by_role("button", name="Erase recipient").click()
    page.get_by_role("heading", name="Recipient erased").wait_for()
    shoot(page, "recipient-erased")
    assert "bo@example.com" not in page.locator("main").inner_text()
    assert [e.actor for e in stack.app.recipients.erasures()] == ["dashboard password"]
    context.close()
