"""The dashboard's topics page, a broadcast's live progress, and deliveries filtered by
broadcast, over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.contract.notify_support import write_templates
from tests.serving import serve
from tidings import Tidings, Topic
from tidings.dashboard import dashboard
from tidings.testing import TestEngine

from .test_dashboard_http import HASH, login

pytestmark = pytest.mark.usefixtures("no_secrets_in_logs")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Tidings]:
    a = Tidings(f"sqlite:///{tmp_path / 'dash.db'}", environment="staging",
                templates=write_templates(tmp_path / "templates"))  # fmt: skip
    a.notification_type("alert", channels=("in_app", "email"))
    for who in ("ann", "bo", "cy"):
        a.recipients.upsert(who, email=f"{who}@example.com")
    a.topics.subscribe("team", ["ann", "bo"])
    a.topics.subscribe("all", ["ann", "bo", "cy"])
    yield a
    a.close()


@pytest.fixture
def client(app: Tidings) -> Iterator[httpx.Client]:
    server = Starlette(
        routes=[Mount("/dashboard", dashboard(app, password_hash=HASH, secret_key="s1"))]
    )
    with serve(server) as url, httpx.Client(base_url=url) as c:
        yield c


async def _route(app: Tidings) -> None:
    async with TestEngine(app) as t:
        await t.run_due()


def test_topics_broadcast_progress_and_its_deliveries(client: httpx.Client, app: Tidings) -> None:
    login(client)
    handle = app.notify("alert", to=Topic("team"), data={"name": "An"})
    topics = client.get("/dashboard/topics").text
    assert "team" in topics
    assert handle.id in topics
    before = client.get(f"/dashboard/broadcasts/{handle.id}").text
    assert "0 of 2 recipients routed" in before
    assert "routing…" in before
    seen: list[str] = []
    with client.stream("GET", f"/dashboard/live?page=/broadcasts/{handle.id}") as stream:
        for line in stream.iter_lines():
            seen.append(line)
            if line == "" and any(s.startswith("event: update") for s in seen):
                break
    assert "recipients routed" in "\n".join(seen)
    asyncio.run(_route(app))
    after = client.get(f"/dashboard/broadcasts/{handle.id}").text
    assert "2 of 2 recipients routed, finished" in after
    assert "delivered: 2" in after
    assert "sent: 2" in after
    listed = client.get("/dashboard/deliveries", params={"broadcast": handle.id}).text
    assert listed.count("/dashboard/deliveries/dlv_") == 4
    assert "/dashboard/recipients/cy" not in listed
    emails = client.get("/dashboard/deliveries",
                        params={"broadcast": handle.id, "channel": "email"}).text  # fmt: skip
    assert emails.count("/dashboard/deliveries/dlv_") == 2
    unknown = client.get("/dashboard/deliveries", params={"broadcast": "bct_nope"})
    assert unknown.status_code == 400
    assert "no broadcast" in unknown.text
    assert client.get("/dashboard/broadcasts/bct_nope").status_code == 404
