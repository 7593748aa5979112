"""Cron ticks in IANA timezones (DST as cron daemons do) and catch-up planning."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from tidings.cron import CronSpec, local_instant, parse_cron
from tidings.engine.scheduler import latest_tick, plan_ticks
from tidings.errors import ValidationError


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def ticks(spec: CronSpec, start: str, n: int) -> list[str]:
    zone, at, out = ZoneInfo(spec.timezone), utc(start), []
    for _ in range(n):
        at = spec.next_after(at)
        out.append(at.astimezone(zone).strftime("%m-%d %H:%M%z"))
    return out


def test_croniter_alone_fires_a_repeated_local_time_twice() -> None:
    """Why cron.py maps local ticks itself: croniter's aware iteration repeats 01:30."""
    zone = ZoneInfo("America/New_York")
    it = croniter("30 1 * * *", datetime(2026, 10, 31, 12, tzinfo=zone))
    first, second = it.get_next(datetime), it.get_next(datetime)
    assert first.date() == second.date()  # both on 2026-11-01: 01:30 EDT and 01:30 EST
    spec = parse_cron("30 1 * * *", "America/New_York", owner="t")
    assert ticks(spec, "2026-10-31T16:00", 2) == ["11-01 01:30-0400", "11-02 01:30-0500"]


def test_skipped_local_times_fire_at_the_transition_once() -> None:
    spec = parse_cron("0,15,30,45 2 * * *", "America/New_York", owner="t")
    # all four fall in the 02:00-03:00 gap of 2026-03-08: one run at 03:00 EDT
    assert ticks(spec, "2026-03-07T12:00", 3) == [
        "03-08 03:00-0400",
        "03-09 02:00-0400",
        "03-09 02:15-0400",
    ]


def test_every_quarter_hour_across_fall_back_fires_the_repeated_hour_once() -> None:
    spec = parse_cron("*/15 * * * *", "Europe/Berlin", owner="t")
    # 2026-10-25 03:00 CEST -> 02:00 CET: 02:xx happens twice, fires once (CEST)
    assert ticks(spec, "2026-10-24T23:50", 7) == [
        "10-25 02:00+0200",
        "10-25 02:15+0200",
        "10-25 02:30+0200",
        "10-25 02:45+0200",
        "10-25 03:00+0100",
        "10-25 03:15+0100",
        "10-25 03:30+0100",
    ]


def test_local_instant_maps_gap_and_fold() -> None:
    zone = ZoneInfo("Europe/Berlin")
    wall = datetime.fromisoformat  # naive local wall times
    assert local_instant(wall("2026-03-29T02:30"), zone) == utc("2026-03-29T01:00")
    assert local_instant(wall("2026-10-25T02:30"), zone) == utc("2026-10-25T00:30")
    assert local_instant(wall("2026-07-01T12:00"), zone) == utc("2026-07-01T10:00")


def test_aliases_and_whitespace() -> None:
    assert parse_cron("@hourly", owner="t").next_after(utc("2026-01-01T00:10")) == utc(
        "2026-01-01T01:00"
    )
    assert parse_cron("  0   9 * *  1-5 ", owner="t").expression == "0 9 * * 1-5"


@pytest.mark.parametrize("bad", [None, 5, "", "0 9 * * * *", "@reboot", "0 25 * * *"])
def test_bad_expressions(bad: object) -> None:
    with pytest.raises(ValidationError, match=r"^cron of t"):
        parse_cron(bad, owner="t")


def test_plan_ticks_per_catch_up_mode() -> None:
    hourly = {m: parse_cron("0 * * * *", catch_up=m, owner="t") for m in ("latest", "all", "none")}
    due, now = utc("2026-03-01T10:00"), utc("2026-03-01T13:30")
    assert plan_ticks(hourly["all"], due, now) == (
        [utc(f"2026-03-01T{h}:00") for h in (10, 11, 12, 13)],
        utc("2026-03-01T14:00"),
    )
    assert plan_ticks(hourly["latest"], due, now) == (
        [utc("2026-03-01T13:00")],
        utc("2026-03-01T14:00"),
    )
    assert plan_ticks(hourly["none"], due, now) == ([], utc("2026-03-01T14:00"))
    on_time = utc("2026-03-01T10:00:02")
    assert plan_ticks(hourly["none"], due, on_time) == ([due], utc("2026-03-01T11:00"))


def test_latest_tick_after_long_downtime_searches_back_from_now() -> None:
    minutely = parse_cron("* * * * *", owner="t")
    first, now = utc("2025-01-01T00:00"), utc("2026-03-01T09:30:30")
    assert latest_tick(minutely, first, now) == utc("2026-03-01T09:30")
    yearly = parse_cron("0 0 1 1 *", owner="t")
    assert latest_tick(yearly, utc("2020-01-01T00:00"), now) == utc("2026-01-01T00:00")


def test_catch_up_all_fires_in_bounded_batches() -> None:
    minutely = parse_cron("* * * * *", catch_up="all", owner="t")
    fired, following = plan_ticks(minutely, utc("2026-03-01T00:00"), utc("2026-03-02T00:00"))
    assert len(fired) == 100
    assert fired[-1] == utc("2026-03-01T01:39")
    assert following == utc("2026-03-01T01:40")
    assert fired == sorted(set(fired))
    assert all(b - a == timedelta(minutes=1) for a, b in itertools.pairwise(fired))


@pytest.mark.parametrize("tz", ["America/New_York", "Europe/Berlin", "Asia/Ho_Chi_Minh"])
@pytest.mark.parametrize("cron", ["30 2 * * *", "30 1 * * *", "0 0 * * *", "0 3 * * *"])
def test_a_daily_schedule_runs_once_per_local_day_all_year(tz: str, cron: str) -> None:
    """Including the spring gap (02:30) and the fall repeat (01:30 NY, 02:30 Berlin)."""
    spec, zone = parse_cron(cron, tz, owner="t"), ZoneInfo(tz)
    at, days = utc("2025-12-31T23:59"), []
    while at < utc("2027-01-01T00:00"):
        at = spec.next_after(at)
        days.append(at.astimezone(zone).date())
    assert len(days) == len(set(days)) == 366  # 2026 and the first day of 2027
