"""Debounce, batch and singleton through the HTTP API, and what a coalesced run shows in
GET /runs/{id}, the dashboard, `tidings runs show` and MCP (run_to_json)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console

from tests.server.harness import client, new_key, serving
from tests.server.test_hardening import dashboard_login
from tidings import Batch, Context, Debounce, Singleton, Tidings
from tidings.cli.render import render_run
from tidings.jsonview import run_to_json


@pytest.fixture
def gated_app(database_url: str) -> Iterator[Tidings]:
    app = Tidings(database_url, environment="staging")

    @app.task(on_event="quote.created", batch=Batch(max_size=50, timeout=3600, key="requestId"))
    async def quotes(ctx: Context, payload: list[Any]) -> None: ...

    @app.task(debounce=Debounce(3600, key="user", keep="all"))
    async def digest(ctx: Context, payload: list[Any]) -> None: ...

    @app.task(singleton=Singleton(key="user"))
    async def send(ctx: Context, payload: Any) -> None: ...

    yield app
    app.close()


def test_http_events_and_triggers_coalesce_and_the_run_shows_them(gated_app: Tidings) -> None:
    app = gated_app
    admin = new_key(app)
    with serving(app) as base, client(base, admin) as c:
        sent = [
            c.post("/api/v1/events", json={"name": "quote.created", "data": {"requestId": "r1"}})
            for _ in range(3)
        ]
        triggered = [
            c.post("/api/v1/tasks/digest/trigger", json={"payload": {"user": "u1", "n": n}})
            for n in range(2)
        ]
        singles = [
            c.post("/api/v1/tasks/send/trigger", json={"payload": {"user": "u1"}}) for _ in range(2)
        ]
        event_ids = [r.json()["id"] for r in sent]
        run_ids = {tuple(r.json()["runIds"]) for r in sent}
        assert len(run_ids) == 1
        (run_id,) = run_ids.pop()
        shown = c.get(f"/api/v1/runs/{run_id}").json()
        listed = c.get("/api/v1/runs", params={"task_id": "quotes"}).json()["data"]
        dashboard_login(c, admin)
        page = c.get(f"/dashboard/runs/{run_id}").text
    assert all(r.is_success for r in sent)
    assert [r.json()["created"] for r in triggered] == [True, False]
    assert triggered[0].json()["id"] == triggered[1].json()["id"]
    assert [r.json()["created"] for r in singles] == [True, False]
    assert singles[0].json()["id"] == singles[1].json()["id"]
    assert shown["coalesced"] == 3
    assert shown["coalesced_ids"] == event_ids
    assert shown["payload"] == [{"requestId": "r1"}] * 3
    assert listed[0]["coalesced"] == 3
    assert "Coalesced" in page
    assert all(event_id in page for event_id in event_ids)

    run = app.get_run(run_id)
    out = io.StringIO()
    Console(file=out, width=200).print(render_run(run))
    assert f"3: {', '.join(event_ids)}" in out.getvalue()
    as_json = run_to_json(run)  # what `tidings runs show --json` and MCP get_run return
    assert as_json["coalesced"] == 3
    assert as_json["coalesced_ids"] == event_ids
