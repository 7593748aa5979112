"""ScaledClock, DatabaseClock and the conversions between engine time and real time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tidings.clock import (
    DatabaseClock,
    ScaledClock,
    SystemClock,
    VirtualClock,
    clock_scale,
    elapsed,
    engine_duration,
    real_seconds,
)

ORIGIN = datetime(2026, 3, 1, 9, tzinfo=UTC)


def test_scaled_clock_starts_at_its_origin_and_runs_scale_times_faster() -> None:
    real0 = time.monotonic()
    clock = ScaledClock(ORIGIN, 3600, origin_real=real0)
    first = clock.now()
    time.sleep(0.05)
    second = clock.now()
    real_elapsed = time.monotonic() - real0
    assert first >= ORIGIN
    engine_elapsed = (second - ORIGIN).total_seconds()
    # at most the real time that passed, times the scale; at least the 50 ms slept
    assert 0.05 * 3600 <= engine_elapsed <= real_elapsed * 3600
    assert second.tzinfo is UTC


def test_scaled_clock_resumes_from_a_later_origin() -> None:
    # a restart continues where the previous process's engine time stopped
    stopped_at = ORIGIN + timedelta(days=2)
    clock = ScaledClock(stopped_at, 60)
    assert stopped_at <= clock.now() < stopped_at + timedelta(minutes=5)


def test_scaled_clock_takes_an_aware_origin_in_any_zone() -> None:
    hcm = datetime(2026, 3, 1, 16, tzinfo=timezone(timedelta(hours=7)))
    assert ScaledClock(hcm, 1).origin == ORIGIN


@pytest.mark.parametrize("scale", [0, -1, float("nan"), float("inf"), True, "10"])
def test_scaled_clock_rejects_bad_scales(scale: object) -> None:
    with pytest.raises(ValueError, match="time scale"):
        ScaledClock(ORIGIN, scale)  # type: ignore[arg-type]


def test_scaled_clock_rejects_a_naive_origin() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ScaledClock(datetime(2026, 3, 1, 9), 10)  # noqa: DTZ001


def test_conversions_between_engine_and_real_time() -> None:
    scaled = ScaledClock(ORIGIN, 3600)
    assert clock_scale(scaled) == 3600
    assert real_seconds(scaled, timedelta(hours=2)) == pytest.approx(2.0)
    assert real_seconds(scaled, -5.0) == 0.0  # a due time in the past: no wait
    assert engine_duration(scaled, timedelta(seconds=30)) == timedelta(hours=30)
    for plain in (SystemClock(), VirtualClock(ORIGIN)):
        assert clock_scale(plain) == 1.0
        assert real_seconds(plain, timedelta(minutes=1)) == 60.0
        assert engine_duration(plain, timedelta(seconds=30)) == timedelta(seconds=30)


def test_database_clock_never_reads_earlier_after_a_small_correction() -> None:
    clock = DatabaseClock()
    t0 = datetime(2026, 12, 7, 12, tzinfo=UTC)
    start = elapsed()
    clock.correct(t0, start, t0, 0.001)
    first = clock.now()
    # measured again 0.3 s of database time behind where this clock had got to
    clock.correct(t0 - timedelta(seconds=0.3), elapsed(), t0, 0.001)
    second = clock.now()
    assert second >= first
    assert second - first < timedelta(seconds=0.3)  # it holds, it does not jump ahead


def test_database_clock_follows_a_large_step_of_the_database_clock() -> None:
    clock = DatabaseClock()
    t0 = datetime(2026, 12, 7, 12, tzinfo=UTC)
    clock.correct(t0, elapsed(), t0, 0.001)
    clock.correct(t0 - timedelta(seconds=45), elapsed(), t0, 0.001)
    assert clock.now() < t0 - timedelta(seconds=44)


def test_database_clock_is_the_wall_clock_until_measured() -> None:
    clock = DatabaseClock()
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 1
