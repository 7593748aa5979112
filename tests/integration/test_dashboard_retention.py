"""The dashboard overview shows the retention policy and what the last prune deleted."""

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

from tests.integration.test_dashboard_http import HASH, login
from tests.serving import serve
from tidings import Context, Retention, Tidings
from tidings.dashboard import dashboard
from tidings.testing import TestEngine

pytestmark = pytest.mark.usefixtures("no_secrets_in_logs")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Tidings]:
    a = Tidings(f"sqlite:///{tmp_path / 'dash.db'}", retention=Retention(outbox=None))

    @a.task
    async def finished(ctx: Context) -> int:
        return 1

    yield a
    a.close()


@pytest.fixture
def client(app: Tidings) -> Iterator[httpx.Client]:
    server = Starlette(
        routes=[Mount("/dashboard", dashboard(app, password_hash=HASH, secret_key="s1"))]
    )
    with serve(server) as url, httpx.Client(base_url=url) as c:
        yield c


def _card(html: str) -> str:
    found = re.search(r'<section class="card" id="retention">(.*?)</section>', html, re.S)
    assert found is not None, html
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


async def _finished_long_ago(app: Tidings, n: int) -> None:
    async with TestEngine(app, start=datetime.now(UTC) - timedelta(days=40)) as t:
        for _ in range(n):
            await t.trigger("finished")


def test_the_overview_shows_the_policy_and_the_last_prune(
    app: Tidings, client: httpx.Client
) -> None:
    login(client)
    card = _card(client.get("/dashboard/").text)
    assert "runs 30 days" in card
    assert "outbox kept forever" in card
    assert "inbox 180 days" in card
    assert "No prune yet" in card

    asyncio.run(_finished_long_ago(app, 3))
    app.prune()
    card = _card(client.get("/dashboard/").text)
    assert "Last prune" in card
    assert "3 rows deleted" in card
    assert "runs: 3" in card
