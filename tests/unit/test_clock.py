"""ScaledClock and the conversions between engine time and real time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tidings.clock import (
    ScaledClock,
    SystemClock,
    VirtualClock,
    clock_scale,
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
