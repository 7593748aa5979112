"""The dashboard as a newcomer reads it: durations in days, the overview's window on a
fast clock, previews that say they were cut, times that do not wrap, events that had no
effect, and an icon."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.serving import serve
from tidings import Context, Tidings
from tidings.clock import ScaledClock
from tidings.dashboard import dashboard
from tidings.dashboard.auth import hash_password
from tidings.dashboard.pages import default_window
from tidings.dashboard.web import clip, humanize_seconds
from tidings.testing import TestEngine

SECRET = "s1"
PASSWORD = "correct horse battery staple"
HASH = hash_password(PASSWORD, n=2**10)  # cheap for tests


def test_durations_read_in_the_unit_a_person_would_say() -> None:
    assert humanize_seconds(0.25) == "250 ms"
    assert humanize_seconds(4.2) == "4.2 s"
    assert humanize_seconds(720) == "12 min"
    assert humanize_seconds(5.5 * 3600) == "5.5 h"
    assert humanize_seconds(259218.48) == "3.0 d"


def test_a_cut_preview_ends_in_an_ellipsis() -> None:
    assert clip("short") == "short"
    cut = clip("word " * 40, 30)
    assert len(cut) <= 30
    assert cut.endswith("…")
    assert clip("two\nlines") == "two lines"
    assert clip(None) == ""


def test_the_overview_opens_on_a_window_that_lasts_a_real_minute() -> None:
    assert default_window(1.0) == "1h"
    assert default_window(60.0) == "1h"  # an engine hour is a real minute
    assert default_window(600.0) == "24h"
    assert default_window(3600.0) == "7d"  # 2.8 real minutes
    assert default_window(1e6) == "7d"  # nothing longer: the longest there is


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Tidings]:
    a = Tidings(f"sqlite:///{tmp_path / 'dash.db'}", environment="staging")

    @a.task(on_event="user.registered")
    async def drip(ctx: Context, payload: dict[str, str]) -> None:
        await ctx.sleep(timedelta(days=3))

    yield a
    a.close()


@pytest.fixture
def client(app: Tidings) -> Iterator[httpx.Client]:
    server = Starlette(
        routes=[Mount("/dashboard", dashboard(app, password_hash=HASH, secret_key=SECRET))]
    )
    with serve(server) as url, httpx.Client(base_url=url) as c:
        form = c.get("/dashboard/login")
        token = re.search(r'name="login_token" value="([^"]+)"', form.text)
        assert token is not None
        signed = c.post(
            "/dashboard/login",
            data={"login_token": token.group(1), "secret": PASSWORD, "next": "/"},
        )
        assert signed.status_code in (200, 303), signed.text
        yield c


async def play_a_drip_and_an_unheard_event(app: Tidings) -> None:
    """A three-day run that finished a day ago, and an event with a misspelt name."""
    start = datetime.now(UTC) - timedelta(days=4)
    async with TestEngine(app, start=start) as t:
        await t.send_event("user.registered", {"userId": "u1"})
        await t.send_event("user.registred", {"userId": "u1"})  # nothing listens
        await t.advance(timedelta(days=3, seconds=1))


def test_pages_say_days_mark_unheard_events_and_link_the_icon(
    app: Tidings, client: httpx.Client
) -> None:
    asyncio.run(play_a_drip_and_an_unheard_event(app))
    week = client.get("/dashboard/?window=7d").text
    assert "Last 7 days" in week
    assert re.search(r'<td data-label="Mean">3\.0 d</td>', week), week
    assert '<link rel="icon" href="/dashboard/static/favicon.svg"' in week
    events = client.get("/dashboard/events").text
    rows = {
        name: row
        for row in events.split("<tr id=")[1:]
        for name in re.findall(r"<strong>([\w.]+)</strong>", row)
    }
    assert ">no effect</span>" in rows["user.registred"]
    assert "no effect" not in rows["user.registered"]
    assert re.search(r'<td data-label="Received"><time datetime="[^"]+">', events)


def test_the_overview_follows_a_fast_clock(app: Tidings, client: httpx.Client) -> None:
    app.configure(clock=ScaledClock(datetime.now(UTC), 3600))
    page = client.get("/dashboard/").text
    assert "Last 7 days" in page  # the default window at 3,600x
    assert "running 3,600× faster than real time" in page  # noqa: RUF001 - the page's sign
    assert "this window lasts 3 min of real time" in page  # 168 s
    hour = client.get("/dashboard/?window=1h").text
    assert "Last hour" in hour
    assert "this window lasts 1.0 s of real time" in hour
