"""Issue 22, findings 1-2: rows written before the door checks existed (times outside
years 1-9999 in UTC, lone surrogates, deep nesting) never break a listing, a page, the
CLI's run view or the scheduler: they are shown as well as they can be."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
from datetime import UTC, datetime, timedelta, timezone

import pytest
from rich.console import Console

from tests.server.harness import client, new_key
from tests.server.test_hardening import assert_everything_lists, dashboard_login
from tidings import Run, Tidings
from tidings.cli.render import fetch_runs, format_time, render_runs_table, truncate
from tidings.limits import UNREADABLE
from tidings.store.events import NewEvent
from tidings.store.recipients import RecipientRow

YEAR_0 = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))  # 0000-12-31 in UTC
YEAR_10000 = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14)))


def bad_run(app: Tidings, *, run_at: datetime, payload: str, tags: tuple[str, ...]) -> str:
    """A run written straight to the store, past every check of the door."""
    good = app.kernel.new_run(
        "slow",
        None,
        idempotency_key=None,
        delay=None,
        run_at=None,
        priority=None,
        queue=None,
        tags=None,
    )
    new = dataclasses.replace(good, run_at=run_at, payload=payload, tags=tags)
    run_id, _ = app.store.runs.create(new, app.clock.now(), timedelta(hours=1))
    return run_id


def deep_json(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_runs_with_out_of_range_times_still_list(
    notify_api: Tidings, notify_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    admin = new_key(notify_api)
    ids = [
        bad_run(notify_api, run_at=when, payload=deep_json(400), tags=("t",))
        for when in (YEAR_0, YEAR_10000)
    ]
    # Delayed events due beyond year 9999 in UTC: the scheduler must not spin on them.
    for n, when in enumerate((YEAR_0, YEAR_10000)):
        event = NewEvent(f"evt_bad{n}", "user.registered", "{}", when)
        notify_api.store.events.schedule(event, when, notify_api.clock.now())
    assert_everything_lists(notify_url, admin)
    with client(notify_url, admin) as c:
        listed = c.get("/api/v1/runs").json()["data"]
        one = c.get(f"/api/v1/runs/{ids[0]}")
        dashboard_login(c, admin)
        pages = [c.get(f"/dashboard/runs/{run_id}").status_code for run_id in ids]
    assert {r["id"] for r in listed} >= set(ids)
    assert one.status_code == 200
    assert UNREADABLE in str(one.json()["payload"])
    assert pages == [200, 200]
    runs = fetch_runs(notify_api, steps=True)  # what `tidings dev` shows
    assert {r.id for r in runs} >= set(ids)
    assert "9999" in printed(runs)
    worker = notify_api.worker(concurrency=1, poll_interval=0.05)

    async def briefly() -> None:
        running = asyncio.create_task(worker.run())
        await asyncio.sleep(1.0)
        worker.stop()
        await running

    with caplog.at_level(logging.WARNING):
        asyncio.run(briefly())  # returns: neither the claim loop nor the scheduler died
    assert "store unavailable" not in caplog.text  # the scheduler does not spin on them


def test_surrogates_already_stored_render_as_replacement_characters(
    notify_api: Tidings, notify_url: str, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL never stored lone surrogates (jsonb and UTF-8 refuse them)")
    admin = new_key(notify_api)
    run_id = bad_run(
        notify_api, run_at=datetime.now(UTC), payload='{"x": "\\ud800"}', tags=("\ud800",)
    )
    notify_api.store.events.send(
        NewEvent("evt_sur", "nobody.listens", '"\\udfff"', datetime.now(UTC)),
        [],
        [],
        notify_api.clock.now(),
        timedelta(hours=1),
    )
    notify_api.store.recipients.upsert(
        RecipientRow(
            "dora", None, None, None, "UTC", None, '{"n": "\\ud800"}', frozenset({"data"})
        ),
        notify_api.clock.now(),
    )
    assert_everything_lists(notify_url, admin)
    with client(notify_url, admin) as c:
        listed = c.get("/api/v1/runs")
        recipient = c.get("/api/v1/recipients/dora")
        dashboard_login(c, admin)
        pages = [c.get(f"/dashboard{p}") for p in (f"/runs/{run_id}", "/recipients/dora")]
    assert listed.status_code == 200
    assert "\ufffd" in listed.json()["data"][0]["tags"][0]
    assert recipient.status_code == 200, recipient.text
    assert [p.status_code for p in pages] == [200, 200]
    assert run_id in printed(fetch_runs(notify_api, steps=True))


def printed(runs: list[Run]) -> str:
    """The runs as `tidings dev` prints them (to UTF-8: no surrogate may reach it)."""
    out = io.StringIO()
    Console(file=out, width=200).print(render_runs_table(runs, steps=True))
    for run in runs:
        Console(file=out, width=200).print(truncate(run.payload), format_time(run.run_at))
    return out.getvalue().encode("utf-8").decode()
