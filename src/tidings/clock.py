"""The engine clock. Everything reads time through it so tests can skip days.

Four clocks: :class:`DatabaseClock` (the default: wall time, corrected to the database's
clock by a PostgreSQL store), :class:`SystemClock` (this host's wall time),
:class:`VirtualClock` (moves only when told to; TestEngine) and :class:`ScaledClock`
(runs ``scale`` times faster than wall time from a fixed origin; ``tidings demo
--time-scale``). Engine time is what due times, sleeps, retries, rate-limit windows and
cron ticks are measured in; a worker that
waits for a due time converts the engine duration to real seconds with
:func:`real_seconds`. Leases stay real durations (a heartbeat is a real event), so the
worker stretches them into engine time with :func:`engine_duration`.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    """Wall-clock time."""

    scale = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)


def elapsed() -> float:
    """Seconds on a clock that never steps and keeps counting while the machine is
    suspended (``CLOCK_BOOTTIME`` on Linux, else ``time.monotonic``): for measuring how
    long ago something happened, e.g. the last renewal of a lease."""
    return time.clock_gettime(_ELAPSED)


_ELAPSED = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)


class DatabaseClock:
    """This host's time, corrected to the database's clock once a store has measured it.

    Workers on many hosts share only the database: leases, due times and rate-limit
    windows written by one are judged by the others, so they must all read one clock.
    A PostgreSQL store measures the database's clock (``clock_timestamp()``) when it
    opens and every 30 seconds after, and calls :meth:`correct`; from then on
    :meth:`now` is that reading plus the time elapsed since on :func:`elapsed`, so a step
    of this host's wall clock does not move it. Until a measurement (and on SQLite,
    where every process shares one host's clock) it is the wall clock.
    """

    scale = 1.0

    #: A re-measurement that would move the clock back by less than this is absorbed:
    #: the clock holds still until it catches up, so a lease or due time it wrote a
    #: moment ago is never "in the future" of its own next reading. A larger step back
    #: is the database's clock itself stepping, and is followed.
    max_hold = 1.0

    def __init__(self) -> None:
        # (database time, elapsed() at that reading, the floor until the clock catches up)
        self._anchor: tuple[datetime, float, datetime | None] | None = None
        self.offset: float | None = None
        """Database time minus this host's wall time at the last measurement, seconds."""
        self.uncertainty: float | None = None
        """Half the round trip of the last measurement, seconds: the most it can be off."""

    def now(self) -> datetime:
        anchor = self._anchor
        if anchor is None:
            return datetime.now(UTC)
        at_database, at, floor = anchor
        now = at_database + timedelta(seconds=elapsed() - at)
        return floor if floor is not None and now < floor else now

    def correct(self, database_time: datetime, at: float, wall: datetime, rtt: float) -> None:
        """The database's clock read ``database_time`` when :func:`elapsed` read ``at``
        and this host's wall clock ``wall``, measured over a round trip of ``rtt`` s."""
        database_time = database_time.astimezone(UTC)
        floor = None
        if self._anchor is not None:
            # what the clock read at the moment of this measurement, before it
            before = self._anchor[0] + timedelta(seconds=at - self._anchor[1])
            if self._anchor[2] is not None:
                before = max(before, self._anchor[2])
            if 0 < (before - database_time).total_seconds() < self.max_hold:
                floor = before
        self._anchor = (database_time, at, floor)
        self.offset = (database_time - wall).total_seconds()
        self.uncertainty = rtt / 2


class VirtualClock:
    """A clock that only moves when told to (used by TestEngine)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("TestEngine start must be timezone-aware, e.g. tzinfo=UTC")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        if when < self._now:
            raise ValueError("the virtual clock cannot go backwards")
        self._now = when

    def advance(self, delta: timedelta) -> None:
        self.set(self._now + delta)


class ScaledClock:
    """Engine time that runs ``scale`` times faster than real time from an origin.

    ``now() = origin + (monotonic() - origin_real) * scale``: at ``scale=3600`` one real
    second is one engine hour. Real time is read from ``time.monotonic`` so a wall-clock
    step (NTP) cannot move engine time backwards. To continue a timeline in a new
    process, build the clock with the engine time it had reached as ``origin``: engine
    time then pauses while nothing runs, and resumes where it stopped.
    """

    def __init__(self, origin: datetime, scale: float, *, origin_real: float | None = None) -> None:
        """
        Args:
            origin: the engine time at ``origin_real`` (timezone-aware).
            scale: engine seconds per real second; positive and finite.
            origin_real: a ``time.monotonic()`` reading; default: now.
        """
        if not isinstance(origin, datetime) or origin.tzinfo is None:
            raise ValueError("ScaledClock origin must be a timezone-aware datetime")
        if isinstance(scale, bool) or not isinstance(scale, int | float):
            raise ValueError(f"time scale must be a number, got {scale!r}")
        if not math.isfinite(scale) or scale <= 0:
            raise ValueError(f"time scale must be a positive finite number, got {scale!r}")
        self.origin = origin.astimezone(UTC)
        self.scale = float(scale)
        self.origin_real = time.monotonic() if origin_real is None else origin_real

    def now(self) -> datetime:
        elapsed = time.monotonic() - self.origin_real
        return self.origin + timedelta(seconds=elapsed * self.scale)


def clock_scale(clock: Clock) -> float:
    """Engine seconds per real second (1.0 for clocks that do not say otherwise)."""
    scale = getattr(clock, "scale", 1.0)
    return float(scale) if isinstance(scale, int | float) and scale > 0 else 1.0


def real_seconds(clock: Clock, engine: timedelta | float) -> float:
    """How many real seconds an engine duration lasts on ``clock`` (never negative)."""
    seconds = engine.total_seconds() if isinstance(engine, timedelta) else float(engine)
    return max(seconds, 0.0) / clock_scale(clock)


def engine_duration(clock: Clock, real: timedelta) -> timedelta:
    """The engine duration that lasts ``real`` on ``clock`` (a lease, a grace period)."""
    return real * clock_scale(clock)
