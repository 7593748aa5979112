"""The engine clock. Everything reads time through it so tests can skip days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


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
