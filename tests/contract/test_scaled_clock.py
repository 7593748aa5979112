"""A real worker on a ScaledClock: sleeps, leases and cron ticks in engine time."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tidings import Context, RunStatus, Tidings
from tidings.clock import ScaledClock
from tidings.engine.worker import Worker
from tidings.errors import ConfigError

ORIGIN = datetime(2026, 3, 1, 9, tzinfo=UTC)


@contextmanager
def running(app: Tidings, **options: Any) -> Iterator[Worker]:
    """A real worker on its own event loop in a background thread."""
    worker = app.worker(**options)
    thread = threading.Thread(target=asyncio.run, args=(worker.run(),), daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=30)
        assert not thread.is_alive()


def test_a_durable_sleep_lasts_its_engine_duration_divided_by_the_scale(app: Tidings) -> None:
    app.configure(clock=ScaledClock(ORIGIN, 7200))

    @app.task
    async def drip(ctx: Context, payload: None) -> dict[str, str]:
        before = await ctx.step("before", lambda: ctx.now().isoformat())
        await ctx.sleep(timedelta(hours=2))
        return {"before": before, "after": ctx.now().isoformat()}

    # A 30 s poll: only waking at the due time converted to real seconds (1 s) is prompt.
    with running(app, poll_interval=30):
        started = time.monotonic()
        result = app.trigger("drip").result(timeout=15)
        elapsed = time.monotonic() - started
    slept = datetime.fromisoformat(result["after"]) - datetime.fromisoformat(result["before"])
    assert slept >= timedelta(hours=2)
    assert elapsed < 15
    run = app.list_runs(task_id="drip")[0]
    assert run.status is RunStatus.COMPLETED
    assert run.created_at >= ORIGIN  # records carry engine time


def test_a_lease_is_real_time_however_fast_engine_time_runs(app: Tidings) -> None:
    # 0.6 real seconds is 36 engine minutes, past a 30 s lease taken as engine time; the
    # worker must neither lose the run nor claim it again while the step still runs.
    app.configure(clock=ScaledClock(ORIGIN, 3600), lease=timedelta(seconds=30))
    calls: list[int] = []

    def slow(n: int) -> int:
        calls.append(n)
        time.sleep(0.6)
        return n

    @app.task
    async def long_step(ctx: Context, payload: None) -> int:
        return int(await ctx.step("slow", slow, 1))

    with running(app, concurrency=4, poll_interval=0.02):
        assert app.trigger("long-step").result(timeout=20) == 1
    assert calls == [1]
    run = app.list_runs(task_id="long-step")[0]
    assert run.attempt == 1
    assert run.status is RunStatus.COMPLETED


def test_cron_ticks_follow_engine_time(app: Tidings) -> None:
    # hourly in engine time is once a real second at scale 3600; with catch_up="none" a
    # tick fired a few real milliseconds late (minutes of engine time) must still fire
    app.configure(clock=ScaledClock(ORIGIN, 3600))

    @app.task(cron="0 * * * *", catch_up="none")
    async def hourly(ctx: Context, payload: dict[str, Any]) -> str:
        return str(payload["timestamp"])

    with running(app, poll_interval=0.05):
        deadline = time.monotonic() + 20
        done: list[str] = []
        while time.monotonic() < deadline and len(done) < 3:
            time.sleep(0.1)
            runs = app.list_runs(task_id="hourly", status="COMPLETED")
            done = sorted(str(r.result) for r in runs)
    assert len(done) >= 3, done
    ticks = [datetime.fromisoformat(t) for t in done]
    assert all(t.minute == 0 and t.second == 0 and t > ORIGIN for t in ticks)
    # consecutive engine hours: none skipped as "missed"
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(ticks))


def test_configure_rejects_a_clock_without_now(app: Tidings) -> None:
    with pytest.raises(ConfigError, match="now\\(\\) method"):
        app.configure(clock=object())  # type: ignore[arg-type]
