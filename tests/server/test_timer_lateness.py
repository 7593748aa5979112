"""Timer lateness (issue 18, item 5): ``tidings_timer_lateness_seconds`` on /metrics and
on the dashboard overview, summed over every worker that fired timers."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.integration.test_dashboard_http import HASH, login
from tests.server.harness import serving
from tests.serving import serve
from tidings import Alert, Context, Tidings
from tidings.clock import ScaledClock, VirtualClock
from tidings.dashboard import dashboard
from tidings.testing import TestEngine

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _histogram(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", timeout=60).text  # a loaded machine is slow
    found = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r'tidings_timer_lateness_seconds_bucket\{le="([^"]+)"\} (\S+)', text)
    }
    for part in ("count", "sum"):
        m = re.search(rf"^tidings_timer_lateness_seconds_{part} (\S+)$", text, re.M)
        assert m is not None, f"no tidings_timer_lateness_seconds_{part} in /metrics"
        found[part] = float(m.group(1))
    return found


async def _three_late_sleeps(app: Tidings) -> datetime:
    async with TestEngine(app, start=START) as t:
        for _ in range(3):
            await t.trigger("nap")
        t.clock.set(t.now() + timedelta(seconds=65))  # every sleep ends 5 s late
        await t.run_due()
        await t.advance(timedelta(seconds=60))  # the alert task's next minute
        return t.now()


def _nap_app(make_app: Callable[..., Tidings]) -> Tidings:
    app = make_app()

    @app.task
    async def nap(ctx: Context) -> None:
        await ctx.sleep(timedelta(minutes=1))

    return app


async def test_metrics_count_timers_and_move_when_one_fires_late(
    make_app: Callable[..., Tidings],
) -> None:
    app = _nap_app(make_app)
    with serving(app) as url:
        empty = _histogram(url)
        async with TestEngine(app, start=START) as t:
            await t.trigger("nap")  # a trigger to run now is no timer
            await t.advance(timedelta(minutes=2))  # the sleep ends on time
        on_time = _histogram(url)
        async with TestEngine(app, start=START + timedelta(minutes=10)) as t:
            await t.trigger("nap")
            t.clock.set(t.now() + timedelta(minutes=3))  # its sleep ends 2 minutes late
            await t.run_due()
        late = _histogram(url)
    assert (empty["count"], empty["+Inf"]) == (0, 0)
    assert (on_time["count"], on_time["0.005"], on_time["sum"]) == (1, 1, 0)
    assert late["count"] == 2
    assert (late["60.0"], late["120.0"], late["+Inf"]) == (1, 2, 2)  # 120 s is <= 120
    assert late["sum"] == 120


def test_a_real_worker_adds_to_the_same_histogram(make_app: Callable[..., Tidings]) -> None:
    app = _nap_app(make_app)
    with serving(app) as url:
        before = _histogram(url)["count"]
        app.configure(clock=ScaledClock(START, 600))  # a minute's sleep is 0.1 s
        worker = app.worker(poll_interval=0.05)
        thread = threading.Thread(target=asyncio.run, args=(worker.run(),), daemon=True)
        thread.start()
        try:
            app.trigger("nap").result(timeout=20)
        finally:
            worker.stop()
            thread.join(timeout=30)
        assert not thread.is_alive()
        deadline = time.monotonic() + 10  # the worker writes its counts as it stops
        while _histogram(url)["count"] == before and time.monotonic() < deadline:
            time.sleep(0.05)
        after = _histogram(url)
    assert after["count"] == before + 1
    assert after["+Inf"] == after["count"]


def test_the_dashboard_overview_shows_p50_p99_and_the_alert_rules(
    make_app: Callable[..., Tidings],
) -> None:
    app = _nap_app(make_app)
    app.configure(alerts=[Alert(on="timers.late", threshold=1, to="ops"),
                          Alert(on="queue.backlog", to="ops")])  # fmt: skip
    app.recipients.upsert("ops", email="ops@example.com")
    now = asyncio.run(_three_late_sleeps(app))
    app.configure(clock=VirtualClock(now))  # the page looks back from the same time
    server = Starlette(
        routes=[Mount("/dashboard", dashboard(app, password_hash=HASH, secret_key="s1"))]
    )
    with serve(server) as url, httpx.Client(base_url=url) as client:
        login(client)
        page = client.get("/dashboard/").text
    section = re.search(r'<section class="card" id="timer-lateness">(.*?)</section>', page, re.S)
    assert section is not None
    text = re.sub(r"<[^>]+>", "", section.group(1))
    assert "5 timers" in text  # the three sleeps and the alert task's two cron ticks
    assert "p50 5.0 s" in text
    assert "p99 5.0 s" in text
    rows = re.findall(r"<tr><td[^>]*><code[^>]*>([^<]+)</code></td>(.*?)</tr>", page, re.S)
    fired = {on: re.sub(r"<[^>]+>", " ", rest).split() for on, rest in rows}
    assert fired["timers.late"][:3] == ["ops", "15", "min"]
    assert "never" not in fired["timers.late"]
    assert fired["queue.backlog"][-1] == "never"
