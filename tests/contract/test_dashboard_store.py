"""The store's dashboard queries and actions, on every backend."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import START
from tidings import Context, Tidings
from tidings.errors import UnknownScheduleError
from tidings.records import RunStatus
from tidings.store.dashboard import Cursor, RunFilter
from tidings.testing import TestEngine


def _tasks(app: Tidings) -> None:
    @app.task(retry=None)
    async def ok(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
        return payload

    @app.task(id="nap")
    async def nap(ctx: Context, payload: Any) -> str:
        await ctx.sleep(timedelta(hours=5))
        return "rested"

    @app.task(id="waiter")
    async def waiter(ctx: Context, payload: dict[str, Any]) -> Any:
        ev = await ctx.wait_for_event(
            "order.paid", match={"order": payload["order"]}, timeout=timedelta(days=1)
        )
        return None if ev is None else ev.data

    @app.task(id="parent")
    async def parent(ctx: Context, payload: Any) -> str:
        return await ctx.trigger("ok", {"from": "parent"})


async def test_search_filters_and_cursor_pages(app: Tidings) -> None:
    _tasks(app)
    async with TestEngine(app, start=START) as t:
        ids = []
        for i in range(7):
            h = await t.trigger("ok", {"i": i}, tags=["blue"] if i % 2 else ["red"])
            ids.append(h.id)
            await t.advance(timedelta(seconds=1))
        await t.trigger("ok", {"i": 99}, idempotency_key="order-99")
        store = app.store
        everything = store.dashboard.search_runs(RunFilter(), None, 100)
        assert [r.id for r in everything][1:] == list(reversed(ids))

        page1 = store.dashboard.search_runs(RunFilter(task_id="ok"), None, 3)
        last = page1[-1]
        page2 = store.dashboard.search_runs(
            RunFilter(task_id="ok"), Cursor(last.created_at, last.id), 3
        )
        assert not {r.id for r in page1} & {r.id for r in page2}
        assert len(page2) == 3

        blue = store.dashboard.search_runs(RunFilter(tag="blue"), None, 100)
        assert sorted(r.id for r in blue) == sorted(ids[1::2])
        keyed = store.dashboard.search_runs(RunFilter(idempotency_key="order-99"), None, 10)
        assert [r.payload for r in keyed] == [{"i": 99}]
        since = START + timedelta(seconds=3)
        window = store.dashboard.search_runs(
            RunFilter(since=since, until=since + timedelta(seconds=2)), None, 9
        )
        assert [r.payload["i"] for r in window] == [4, 3]
        failed = store.dashboard.search_runs(RunFilter(status=RunStatus.FAILED), None, 10)
        assert failed == []

        counts = store.dashboard.count_runs_by_status(RunFilter(task_id="ok"), cap=5)
        assert counts[RunStatus.COMPLETED] == 5  # 8 runs, capped at 5
        assert (
            store.dashboard.count_runs_by_status(RunFilter(tag="red"), cap=100)[RunStatus.COMPLETED]
            == 4
        )
        keyed_counts = store.dashboard.count_runs_by_status(
            RunFilter(idempotency_key="order-99"), cap=10
        )
        assert keyed_counts[RunStatus.COMPLETED] == 1


async def test_retry_now_wakes_a_sleeping_run_but_not_an_event_wait(app: Tidings) -> None:
    _tasks(app)
    async with TestEngine(app, start=START) as t:
        sleeper = await t.trigger("nap")
        waiter = await t.trigger("waiter", {"order": "o1"})
        assert app.store.dashboard.retry_now(waiter.id, t.now()) is False
        assert app.store.dashboard.retry_now(sleeper.id, t.now()) is True
        await t.advance(timedelta(0))
        assert (await t.get_run(sleeper.id)).result == "rested"
        done = await t.trigger("ok", {})
        assert app.store.dashboard.retry_now(done.id, t.now()) is False


async def test_run_links_and_event_resumes(app: Tidings) -> None:
    _tasks(app)
    async with TestEngine(app, start=START) as t:
        waiter = await t.trigger("waiter", {"order": "o1"})
        links = app.store.dashboard.run_links(waiter.id)
        assert links is not None
        assert [(w.event_name, w.match) for w in links.waits] == [("order.paid", {"order": "o1"})]
        receipt = await t.send_event("order.paid", {"order": "o1", "amount": 3})
        links = app.store.dashboard.run_links(waiter.id)
        assert links is not None
        assert links.waits == ()
        assert [e for e, _, _ in links.resumed_by] == [receipt.event_id]
        view = app.store.dashboard.get_event_view(receipt.event_id)
        assert view is not None
        assert [r for r, _ in view.resumed] == [waiter.id]
        events = app.store.dashboard.list_events(None, None, 10)
        assert receipt.event_id in [e.id for e in events]
        assert app.store.dashboard.list_events("nope", None, 10) == []

        parent = await t.trigger("parent")
        child_id = (await t.get_run(parent.id)).result
        child_links = app.store.dashboard.run_links(child_id)
        assert child_links is not None
        assert child_links.parent_run_id == parent.id
        replay = app.replay(parent.id)
        parent_links = app.store.dashboard.run_links(parent.id)
        assert parent_links is not None
        assert [r for r, _ in parent_links.replays] == [replay.id]
        statuses = app.store.dashboard.run_statuses([parent.id, "run_missing"])
        assert statuses == {parent.id: ("parent", RunStatus.COMPLETED)}
        assert app.store.dashboard.run_fingerprint("run_missing") is None
        before = app.store.dashboard.run_fingerprint(replay.id)
        await t.advance(timedelta(0))
        assert app.store.dashboard.run_fingerprint(replay.id) != before


async def test_overview_and_task_stats(app: Tidings) -> None:
    _tasks(app)

    @app.task(retry=None)
    async def boom(ctx: Context) -> None:
        raise RuntimeError("no")

    async with TestEngine(app, start=START) as t:
        for _ in range(3):
            await t.trigger("ok", {})
        await t.trigger("boom")
        await t.advance(timedelta(minutes=10))
        await t.trigger("ok", {}, delay=timedelta(days=1))  # queued, not yet due
        stats = app.store.dashboard.task_stats(START - timedelta(hours=1))
        assert stats["ok"] == {RunStatus.COMPLETED: 3}
        assert stats["boom"] == {RunStatus.FAILED: 1}
        ov = app.store.dashboard.overview(t.now(), timedelta(hours=1), 12, timedelta(days=1))
        assert sum(ov.series.completed) == 3
        assert sum(ov.series.failed) == 1
        assert ov.series.completed[10] == 3  # 50 minutes into the hour, 5-minute buckets
        assert ov.queue_now == 0
        assert [s.task_id for s in ov.slowest] == ["ok"]


async def test_a_paused_schedule_does_not_fire_until_resumed(app: Tidings) -> None:
    seen: list[str] = []

    @app.task(cron="0 * * * *")
    async def hourly(ctx: Context, payload: dict[str, Any]) -> None:
        seen.append(payload["timestamp"])

    async with TestEngine(app, start=START.replace(minute=30)) as t:
        await t.advance(timedelta(hours=1))
        assert len(seen) == 1
        (schedule,) = app.schedules.list()
        paused = app.schedules.pause(schedule.id)
        assert paused.paused is True
        await t.advance(timedelta(hours=3))
        assert len(seen) == 1
        resumed = app.schedules.resume(schedule.id)
        assert resumed.paused is False
        assert resumed.next_run_at > t.now()
        await t.advance(timedelta(hours=1))
        assert len(seen) == 2  # the ticks missed while paused never run
        with pytest.raises(UnknownScheduleError):
            app.schedules.pause("nope")
        with pytest.raises(UnknownScheduleError):
            app.schedules.resume("nope")


async def test_pause_survives_a_worker_restart_resyncing_static_schedules(app: Tidings) -> None:
    @app.task(cron="*/5 * * * *")
    async def often(ctx: Context, payload: dict[str, Any]) -> None:
        pass

    async with TestEngine(app, start=START):
        (schedule,) = app.schedules.list()
        app.schedules.pause(schedule.id)
    async with TestEngine(app, start=START + timedelta(hours=1)) as t:  # syncs statics again
        assert [s.paused for s in app.schedules.list()] == [True]
        await t.advance(timedelta(hours=1))
        assert app.list_runs("often") == []


async def test_the_event_log_pages_by_cursor_newest_first_through_ties(app: Tidings) -> None:
    """Pages of the event log (all names, or one) follow each other with no gap and no
    repeat, also where events share a receive time (the cursor is time then id)."""
    async with TestEngine(app, start=START) as t:
        sent = []
        for i in range(7):  # the clock stands still: three events per instant, then a step
            name = "order.paid" if i % 2 else "order.placed"
            sent.append(((await t.send_event(name, {"i": i})).event_id, name))
            if i % 3 == 2:
                await t.advance(timedelta(seconds=1))

        def pages(name: str | None) -> list[str]:
            seen: list[str] = []
            cursor = None
            while page := app.store.dashboard.list_events(name, cursor, 2):
                seen += [e.id for e in page]
                cursor = Cursor(page[-1].received_at, page[-1].id)
            return seen

        views = app.store.dashboard.list_events(None, None, 100)
        newest_first = [e.id for e in sorted(views, key=lambda e: (e.received_at, e.id))][::-1]
        assert pages(None) == newest_first
        assert len(newest_first) == 7
        paid = {e for e, name in sent if name == "order.paid"}
        assert pages("order.paid") == [e for e in newest_first if e in paid]
