"""Database time: the PostgreSQL server's clock, measured from this host.

Workers on several hosts judge each other's leases, and the runs' due times, by the
times they write: every process must read one clock, and the one they share is the
database's. A :class:`TimeKeeper` reads ``clock_timestamp()`` a few times on a pooled
connection, keeps the reading with the shortest round trip (its error is at most half
that round trip), and hands it to the :class:`~tidings.clock.DatabaseClock` the engine
reads; it does so when the store opens and every :data:`INTERVAL` seconds after, on a
thread of its own, so no statement waits for it and none costs an extra round trip.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from tidings.clock import DatabaseClock, elapsed

log = logging.getLogger("tidings.store.postgres")

SAMPLES = 5
"""Readings per measurement; the one with the shortest round trip is kept."""
INTERVAL = 30.0
"""Seconds between measurements."""
WARN_OFFSET = 1.0
"""An offset this large (seconds) is logged as a warning: the host's clock needs NTP."""
MAX_RTT = 1.0
"""A later measurement whose best round trip is longer than this (seconds) is dropped:
the previous one, advanced on this host's steady clock, is closer to the truth."""
_TIMEOUT = 10.0


@dataclass(frozen=True)
class Reading:
    """The database's clock read ``database_time`` when this host's :func:`elapsed`
    read ``at`` and its wall clock ``wall`` (both at the middle of the round trip)."""

    database_time: datetime
    at: float
    wall: datetime
    rtt: float

    @property
    def offset(self) -> float:
        """Database time minus this host's wall time, seconds."""
        return (self.database_time - self.wall).total_seconds()


def read_database_time(
    conn: psycopg.Connection[Any], query: str, samples: int = SAMPLES
) -> Reading:
    """Read the server's clock ``samples`` times on ``conn``; the shortest round trip."""
    best: Reading | None = None
    for _ in range(samples):
        wall, before = datetime.now(UTC), elapsed()
        row = conn.execute(query).fetchone()
        rtt = elapsed() - before
        if row is None or not isinstance(row[0], datetime):
            raise psycopg.DataError(f"expected a timestamptz from the server, got {row!r}")
        if best is None or rtt < best.rtt:
            half = rtt / 2
            best = Reading(
                row[0].astimezone(UTC), before + half, wall + timedelta(seconds=half), rtt
            )
    assert best is not None
    return best


class TimeKeeper:
    """Keeps :class:`DatabaseClock` objects corrected to the server's clock."""

    def __init__(self, pool: ConnectionPool, query: str, where: str) -> None:
        self._pool = pool
        self._query = query
        self._where = where
        self._clocks: list[DatabaseClock] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: Reading | None = None
        self._warned: float | None = None  # the offset last warned about
        self._failing = False

    def add(self, clock: DatabaseClock) -> None:
        """Correct ``clock`` now (when the server answers) and every INTERVAL after."""
        with self._lock:
            if clock not in self._clocks:
                self._clocks.append(clock)
            last = self._last
            start = self._thread is None
            if start:
                self._thread = threading.Thread(
                    target=self._loop, name="tidings-dbtime", daemon=True
                )
        if last is not None:
            _apply(clock, last)
        else:
            self.measure()
        if start and self._thread is not None:
            self._thread.start()

    def measure(self) -> Reading | None:
        """Measure once and correct every clock; None if the server did not answer."""
        try:
            with self._pool.connection(timeout=_TIMEOUT) as conn:
                reading = read_database_time(conn, self._query)
        except Exception as exc:
            if not self._failing:
                log.warning(
                    "cannot read the clock of PostgreSQL at %s (%s); keeping the last measurement",
                    self._where,
                    " ".join(str(exc).split()),
                )
            self._failing = True
            return None
        self._failing = False
        with self._lock:
            if self._last is not None and reading.rtt > MAX_RTT:
                return None
            self._last = reading
            clocks = list(self._clocks)
        for clock in clocks:
            _apply(clock, reading)
        self._report(reading)
        return reading

    def _report(self, reading: Reading) -> None:
        offset = reading.offset
        if abs(offset) >= WARN_OFFSET:
            if self._warned is None or abs(offset - self._warned) >= WARN_OFFSET:
                log.warning(
                    "this host's clock is %.3fs %s the clock of PostgreSQL at %s: tidings "
                    "works in the database's time, but synchronise this host with NTP "
                    "(timedatectl set-ntp true / chrony) - its logs and whatever else "
                    "reads its clock are off by as much",
                    abs(offset),
                    "behind" if offset > 0 else "ahead of",
                    self._where,
                )
                self._warned = offset
        elif self._warned is not None:
            log.info("this host's clock is within %.3fs of PostgreSQL's again", abs(offset))
            self._warned = None

    def _loop(self) -> None:
        while not self._stopping.wait(INTERVAL):
            self.measure()

    def stop(self) -> None:
        self._stopping.set()


def _apply(clock: DatabaseClock, reading: Reading) -> None:
    clock.correct(reading.database_time, reading.at, reading.wall, reading.rtt)
