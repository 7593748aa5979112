"""Cron schedules: static and dynamic, payloads, catch-up, DST, several schedulers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pydantic
import pytest

from tests.conftest import START
from tidings import Context, Tidings
from tidings.clock import VirtualClock
from tidings.engine.runtime import Runtime
from tidings.engine.scheduler import Scheduler
from tidings.errors import NotSerializableError, UnknownTaskError, ValidationError
from tidings.testing import TestEngine


class Typed(pydantic.BaseModel):
    user_id: str


def collector(app: Tidings, task_id: str = "tick", **options: Any) -> list[dict[str, Any]]:
    """Register a task that records its payload and start time; return what it records."""
    seen: list[dict[str, Any]] = []

    @app.task(id=task_id, **options)
    async def record(ctx: Context, payload: dict[str, Any]) -> None:
        seen.append({**payload, "ran_at": ctx.now()})

    return seen


def stamps(seen: list[dict[str, Any]], tz: str = "UTC") -> list[str]:
    """The ticks fired, as local wall times with their UTC offset."""
    zone = ZoneInfo(tz)
    return [
        datetime.fromisoformat(s["timestamp"]).astimezone(zone).strftime("%m-%d %H:%M%z")
        for s in seen
    ]


async def test_hourly_cron_fires_each_hour_with_the_payload(app: Tidings) -> None:
    seen = collector(app, cron="0 * * * *")
    async with TestEngine(app, start=START.replace(minute=30)) as t:  # 09:30 UTC
        await t.advance(timedelta(hours=3))
    assert [s["timestamp"] for s in seen] == [
        "2026-03-01T10:00:00+00:00",
        "2026-03-01T11:00:00+00:00",
        "2026-03-01T12:00:00+00:00",
    ]
    assert seen[0] == {
        "timestamp": "2026-03-01T10:00:00+00:00",
        "last_timestamp": None,
        "timezone": "UTC",
        "schedule_id": "cron:tick",
        "key": None,
        "ran_at": datetime(2026, 3, 1, 10, tzinfo=UTC),  # on the tick, not at the end
    }
    assert [s["last_timestamp"] for s in seen[1:]] == [s["timestamp"] for s in seen[:-1]]
    runs = app.list_runs(task_id="tick")
    assert len(runs) == 3
    assert {r.idempotency_key for r in runs} == {
        f"schedule-cron:tick-2026-03-01T{h}:00:00+00:00" for h in (10, 11, 12)
    }
    [schedule] = app.schedules.list()
    assert schedule.static
    assert schedule.task_id == "tick"
    assert schedule.next_run_at == datetime(2026, 3, 1, 13, tzinfo=UTC)
    assert schedule.last_run_at == datetime(2026, 3, 1, 12, tzinfo=UTC)


async def test_ticks_interleave_with_sleeping_runs_in_time_order(app: Tidings) -> None:
    order: list[str] = []

    @app.task(cron="*/20 * * * *")
    async def beat(ctx: Context, payload: dict[str, Any]) -> None:
        order.append(f"beat {ctx.now():%H:%M}")

    @app.task
    async def sleeper(ctx: Context, payload: None) -> None:
        await ctx.sleep(timedelta(minutes=30))
        order.append(f"woke {ctx.now():%H:%M}")

    async with TestEngine(app, start=START) as t:
        await t.trigger("sleeper")
        await t.advance(timedelta(hours=1))
    assert order == ["beat 09:20", "woke 09:30", "beat 09:40", "beat 10:00"]


async def test_dynamic_schedule_with_key_and_payload_until_deleted(app: Tidings) -> None:
    seen = collector(app)
    async with TestEngine(app, start=START) as t:
        made = app.schedules.create(
            "tick", "0 9 * * *", "Asia/Ho_Chi_Minh", key="digest:u1", payload={"user": "u1"}
        )
        again = await app.schedules.create_async(
            "tick",
            "0 9 * * *",
            timezone="Asia/Ho_Chi_Minh",
            key="digest:u1",
            payload={"user": "u1", "v": 2},
        )
        assert again.id == made.id  # one schedule per key: the second create updates it
        assert again.next_run_at == made.next_run_at == datetime(2026, 3, 2, 2, tzinfo=UTC)
        await t.advance(timedelta(days=2))
        assert stamps(seen, "Asia/Ho_Chi_Minh") == ["03-02 09:00+0700", "03-03 09:00+0700"]
        assert seen[0]["payload"] == {"user": "u1", "v": 2}
        assert seen[0]["key"] == "digest:u1"
        assert seen[0]["schedule_id"] == made.id
        assert seen[0]["timezone"] == "Asia/Ho_Chi_Minh"
        assert app.schedules.delete("digest:u1") is True
        assert app.schedules.delete("digest:u1") is False
        assert await app.schedules.list_async() == []
        await t.advance(timedelta(days=2))
    assert len(seen) == 2


async def test_delete_by_id_and_several_keys(app: Tidings) -> None:
    seen = collector(app)
    async with TestEngine(app, start=START) as t:
        for user, tz in [("u1", "Europe/Berlin"), ("u2", "America/New_York")]:
            app.schedules.create("tick", "0 8 * * *", tz, key=f"digest:{user}", payload=user)
        anonymous = app.schedules.create("tick", "30 8 * * *")
        assert [s.key for s in app.schedules.list()] == ["digest:u2", "digest:u1", None]
        assert await app.schedules.delete_async(anonymous.id)
        await t.advance(timedelta(days=1))
    assert sorted(s["payload"] for s in seen) == ["u1", "u2"]


@pytest.mark.parametrize(
    ("cron", "timezone", "field"),
    [
        ("61 * * * *", "UTC", "cron"),
        ("0 * * *", "UTC", "cron"),
        ("every hour", "UTC", "cron"),
        ("0 0 30 2 *", "UTC", "cron"),
        ("0 * * * *", "Mars/Olympus_Mons", "timezone"),
        ("0 * * * *", "", "timezone"),
    ],
)
def test_invalid_cron_or_timezone_is_rejected_naming_the_field(
    app: Tidings, cron: str, timezone: str, field: str
) -> None:
    with pytest.raises(ValidationError, match=rf"^{field} of task 'bad'"):

        @app.task(cron=cron, timezone=timezone)
        async def bad(ctx: Context, payload: Any) -> None: ...

    assert "bad" not in app.tasks
    collector(app)
    with pytest.raises(ValidationError, match=rf"^{field} of the schedule of task 'tick'"):
        app.schedules.create("tick", cron, timezone, key="k")
    assert app.schedules.list() == []


def test_other_bad_schedule_input_stores_nothing(app: Tidings) -> None:
    collector(app)

    @app.task
    async def typed(ctx: Context, payload: Typed) -> None: ...

    @app.task
    async def bare(ctx: Context) -> None: ...

    with pytest.raises(ValidationError, match="catch_up of the schedule of task 'tick'"):
        app.schedules.create("tick", "@hourly", catch_up="sometimes")
    with pytest.raises(UnknownTaskError, match="did you mean 'tick'"):
        app.schedules.create("tik", "@hourly")
    with pytest.raises(NotSerializableError, match="payload of the schedule"):
        app.schedules.create("tick", "@hourly", payload={"at": START})
    with pytest.raises(ValidationError, match="task 'typed' does not match Typed"):
        app.schedules.create("typed", "@hourly")
    with pytest.raises(ValidationError, match="task 'bare' takes no payload"):
        app.schedules.create("bare", "@hourly", payload={"x": 1})
    with pytest.raises(ValidationError, match="key of the schedule"):
        app.schedules.create("tick", "@hourly", key="")
    with pytest.raises(ValidationError, match="catch_up of task 'late'"):

        @app.task(cron="@daily", catch_up="never")
        async def late(ctx: Context) -> None: ...

    assert app.schedules.list() == []


@pytest.mark.parametrize(
    ("catch_up", "expected"),
    [
        ("latest", ["14:00"]),
        ("all", ["10:00", "11:00", "12:00", "13:00", "14:00"]),
        ("none", []),
    ],
)
async def test_catch_up_after_downtime(
    make_app: Callable[..., Tidings], catch_up: str, expected: list[str]
) -> None:
    before = make_app()
    collector(before, cron="0 * * * *", catch_up=catch_up)
    async with TestEngine(before, start=START.replace(minute=30)):
        pass  # the worker starts at 09:30 and stops at once: next tick 10:00
    before.close()

    after = make_app()
    seen = collector(after, cron="0 * * * *", catch_up=catch_up)
    async with TestEngine(after, start=START.replace(hour=14, minute=10)) as t:
        await t.advance(timedelta(0))  # back at 14:10
        assert [f"{datetime.fromisoformat(s['timestamp']):%H:%M}" for s in seen] == expected
        if expected:
            assert seen[0]["last_timestamp"] is None
            assert all(s["ran_at"] == START.replace(hour=14, minute=10) for s in seen)
        await t.advance(timedelta(hours=1))  # and on schedule again from 15:00
    assert f"{datetime.fromisoformat(seen[-1]['timestamp']):%H:%M}" == "15:00"
    last = seen[-2]["timestamp"] if expected else None
    assert seen[-1]["last_timestamp"] == last


async def test_catch_up_none_still_fires_a_tick_that_is_a_moment_late(app: Tidings) -> None:
    seen = collector(app, cron="0 * * * *", catch_up="none")
    async with TestEngine(app, start=START.replace(minute=59)) as t:
        t.clock.set(START.replace(hour=10, second=20))  # time passed with nobody looking
        await t.run_due()
    assert stamps(seen) == ["03-01 10:00+0000"]


# -- DST: as cron daemons do --------------------------------------------------------------
DST_CASES = [
    # (timezone, day start in UTC, cron, expected local ticks)
    # New York springs forward 2026-03-08 02:00 -> 03:00: 02:30 does not exist that day
    (
        "America/New_York",
        "2026-03-07T12:00",
        "30 2 * * *",
        ["03-08 03:00-0400", "03-09 02:30-0400", "03-10 02:30-0400"],
    ),
    (
        "America/New_York",
        "2026-03-08T04:00",
        "0 * * * *",
        ["03-08 00:00-0500", "03-08 01:00-0500", "03-08 03:00-0400", "03-08 04:00-0400"],
    ),
    # ... and falls back 2026-11-01 02:00 -> 01:00: 01:30 happens twice, fires once
    (
        "America/New_York",
        "2026-10-31T12:00",
        "30 1 * * *",
        ["11-01 01:30-0400", "11-02 01:30-0500", "11-03 01:30-0500"],
    ),
    (
        "America/New_York",
        "2026-11-01T03:30",
        "0 * * * *",
        ["11-01 00:00-0400", "11-01 01:00-0400", "11-01 02:00-0500", "11-01 03:00-0500"],
    ),
    # Berlin: 2026-03-29 02:00 -> 03:00, and 2026-10-25 03:00 -> 02:00
    (
        "Europe/Berlin",
        "2026-03-28T12:00",
        "30 2 * * *",
        ["03-29 03:00+0200", "03-30 02:30+0200", "03-31 02:30+0200"],
    ),
    (
        "Europe/Berlin",
        "2026-10-24T12:00",
        "30 2 * * *",
        ["10-25 02:30+0200", "10-26 02:30+0100", "10-27 02:30+0100"],
    ),
    (
        "Europe/Berlin",
        "2026-10-24T12:00",
        "0 9 * * *",
        ["10-25 09:00+0100", "10-26 09:00+0100", "10-27 09:00+0100"],
    ),
    # Ho Chi Minh City keeps +07:00 all year
    (
        "Asia/Ho_Chi_Minh",
        "2026-03-07T12:00",
        "30 2 * * *",
        ["03-08 02:30+0700", "03-09 02:30+0700", "03-10 02:30+0700"],
    ),
]


@pytest.mark.parametrize(("tz", "start", "cron", "expected"), DST_CASES)
async def test_dst_changes_fire_each_local_time_once(
    app: Tidings, tz: str, start: str, cron: str, expected: list[str]
) -> None:
    seen = collector(app)
    begin = datetime.fromisoformat(start).replace(tzinfo=UTC)
    async with TestEngine(app, start=begin) as t:
        app.schedules.create("tick", cron, tz)
        while len(seen) < len(expected):
            await t.advance(timedelta(hours=1))
    assert stamps(seen, tz)[: len(expected)] == expected


# -- several schedulers ------------------------------------------------------------------
async def test_two_test_engines_on_one_store_fire_each_tick_once(
    make_app: Callable[..., Tidings],
) -> None:
    apps = [make_app(), make_app()]
    seen = [collector(a, cron="*/15 * * * *") for a in apps]
    async with TestEngine(apps[0], start=START) as one, TestEngine(apps[1], start=START) as two:
        for turn in range(12):  # 10 virtual minutes each, up to 11:00, first one then two
            first, second = (one, two) if turn % 2 else (two, one)
            await first.advance(timedelta(minutes=10))
            await second.advance(timedelta(minutes=10))
    fired = sorted(s["timestamp"] for s in seen[0] + seen[1])
    assert len(fired) == len(set(fired)) == 8  # 09:15 ... 11:00 on the quarter hours
    assert seen[0]  # both took part
    assert seen[1]
    assert len(apps[0].list_runs(task_id="tick")) == 8


def test_concurrent_schedulers_never_both_fire_a_tick(make_app: Callable[..., Tidings]) -> None:
    apps = [make_app() for _ in range(4)]
    for a in apps:
        collector(a, cron="* * * * *", catch_up="all")
    runtimes = [Runtime(a.kernel) for a in apps]
    schedulers = [Scheduler(rt) for rt in runtimes]
    schedulers[0].sync_static(START)
    created = [0] * len(apps)

    def fire(i: int, barrier: threading.Barrier, now: datetime) -> None:
        barrier.wait()
        created[i] += schedulers[i].fire_all_due(now)

    try:
        for minute in range(1, 11):
            barrier = threading.Barrier(len(apps))
            now = START + timedelta(minutes=minute)
            threads = [
                threading.Thread(target=fire, args=(i, barrier, now)) for i in range(len(apps))
            ]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
    finally:
        for rt in runtimes:
            rt.close()
    runs = apps[0].list_runs(task_id="tick", limit=100)
    assert sum(created) == len(runs) == 10
    assert len({r.payload["timestamp"] for r in runs}) == 10


def test_two_workers_create_each_tick_once(make_app: Callable[..., Tidings]) -> None:
    clock = VirtualClock(START.replace(minute=59, second=59))
    apps = [make_app(), make_app()]
    for a in apps:
        a.clock = clock
        collector(a, cron="0 * * * *")
    workers = [a.worker(poll_interval=0.05) for a in apps]
    threads = [threading.Thread(target=asyncio.run, args=(w.run(),)) for w in workers]
    for th in threads:
        th.start()
    try:
        time.sleep(0.3)  # both schedulers have synced and sleep until 10:00
        for hour in (10, 11):
            clock.set(START.replace(hour=hour))
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                done = [r for r in apps[0].list_runs(task_id="tick") if r.status.finished]
                if len(done) == hour - 9:
                    break
                time.sleep(0.05)
        time.sleep(1.5)  # a second scheduler pass in each worker: nothing more may fire
    finally:
        for w in workers:
            w.stop()
        for th in threads:
            th.join(timeout=30)
    runs = apps[0].list_runs(task_id="tick")
    assert sorted(r.payload["timestamp"] for r in runs) == [
        "2026-03-01T10:00:00+00:00",
        "2026-03-01T11:00:00+00:00",
    ]
    assert all(r.status.finished for r in runs)


async def test_static_schedule_follows_the_code(make_app: Callable[..., Tidings]) -> None:
    old = make_app()
    collector(old, cron="0 * * * *")
    async with TestEngine(old, start=START):
        assert [s.id for s in old.schedules.list()] == ["cron:tick"]
    changed = make_app()
    collector(changed, cron="0 9 * * *", timezone="Europe/Berlin")
    async with TestEngine(changed, start=START):
        [s] = changed.schedules.list()
        assert (s.cron, s.timezone) == ("0 9 * * *", "Europe/Berlin")
        assert s.next_run_at == datetime(2026, 3, 2, 8, tzinfo=UTC)
    removed = make_app()
    collector(removed)  # the task without cron=
    async with TestEngine(removed, start=START):
        assert removed.schedules.list() == []
