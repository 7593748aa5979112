"""Which claims are timers, and how late each was (issue 18, item 5), on both stores:
a sleep's end, a wait's timeout, a delayed start, a cron tick and a retry count; a run
triggered to start at once, or resumed by the event it waited for, does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tidings import Context, Retry, Tidings
from tidings.alerting import LATENESS_BUCKETS, lateness_bucket
from tidings.testing import TestEngine

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _counted(app: Tidings) -> tuple[int, float]:
    rows = app.store.monitoring.lateness(None)
    return sum(n for n, _ in rows.values()), sum(s for _, s in rows.values())


async def test_a_run_to_start_at_once_is_no_timer_and_a_delayed_one_is(app: Tidings) -> None:
    @app.task
    async def ping(ctx: Context) -> None:
        return None

    async with TestEngine(app, start=START) as t:
        await t.trigger("ping")
        assert _counted(app) == (0, 0)
        app.trigger("ping", delay=timedelta(seconds=30))
        t.clock.set(START + timedelta(seconds=40))  # 10 s late
        await t.run_due()
    assert _counted(app) == (1, 10.0)


async def test_a_retry_and_a_cron_tick_are_timers(app: Tidings) -> None:
    calls: list[datetime] = []

    @app.task(retry=Retry(max_attempts=2, initial=timedelta(seconds=20), jitter=False))
    async def flaky(ctx: Context) -> None:
        calls.append(ctx.now())
        if len(calls) == 1:
            raise RuntimeError("first attempt fails")

    @app.task(cron="*/5 * * * *")
    async def tick(ctx: Context, payload: dict[str, object]) -> None:
        return None

    async with TestEngine(app, start=START) as t:
        await t.trigger("flaky")  # fails at 09:00, its retry is due at 09:00:20
        t.clock.set(START + timedelta(seconds=50))  # the retry starts 30 s late
        await t.run_due()
        assert _counted(app) == (1, 30.0)
        t.clock.set(START + timedelta(minutes=5, seconds=3))  # the 09:05 tick, 3 s late
        await t.run_due()
    assert len(calls) == 2
    assert _counted(app) == (2, 33.0)


async def test_samples_are_kept_per_minute_and_folded_after_a_day(app: Tidings) -> None:
    @app.task
    async def nap(ctx: Context) -> None:
        await ctx.sleep(timedelta(seconds=10))

    async with TestEngine(app, start=START) as t:
        await t.trigger("nap")
        t.clock.set(START + timedelta(seconds=12))  # 2 s late
        await t.run_due()
        assert app.store.monitoring.lateness(START) == {lateness_bucket(2.0): (1, 2.0)}
        t.clock.set(START + timedelta(days=2))
        await t.trigger("nap")  # its flush folds the minutes older than a day (hourly)
    monitoring = app.store.monitoring
    assert monitoring.lateness(START) == {}  # no longer a minute of its own...
    assert monitoring.lateness(None) == {lateness_bucket(2.0): (1, 2.0)}  # ...but counted


async def test_a_wait_ended_by_its_event_is_no_timer_and_one_ended_by_its_timeout_is(
    app: Tidings,
) -> None:
    @app.task
    async def await_lab(ctx: Context, payload: dict[str, str]) -> None:
        await ctx.wait_for_event(
            "lab.ready", timeout=timedelta(minutes=10), match={"order": payload["order"]}
        )

    async with TestEngine(app, start=START) as t:
        await t.trigger("await-lab", {"order": "a"})
        await t.trigger("await-lab", {"order": "b"})
        t.clock.set(START + timedelta(minutes=2))
        await t.send_event("lab.ready", {"order": "a"})  # resumes a: not a timer
        assert _counted(app) == (0, 0)
        t.clock.set(START + timedelta(minutes=10, seconds=7))  # b times out, 7 s late
        await t.run_due()
    assert _counted(app) == (1, 7.0)


def test_buckets_are_inclusive_upper_bounds() -> None:
    assert lateness_bucket(0) == 0
    assert lateness_bucket(0.005) == 0
    assert lateness_bucket(0.0051) == 1
    assert lateness_bucket(3600) == len(LATENESS_BUCKETS) - 1
    assert lateness_bucket(3600.1) == len(LATENESS_BUCKETS)
