"""Cron schedules: stored, fired by a compare-and-set that creates their runs."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import datetime, timedelta

from tidings.records import Schedule
from tidings.store.runs import NewRun


class Schedules(abc.ABC):
    """``store.schedules``."""

    @abc.abstractmethod
    def save(self, schedule: Schedule, now: datetime) -> Schedule:
        """Insert or update by id, or by key when it has one; a schedule whose cron and
        timezone are unchanged keeps its stored next tick. Returns the stored schedule."""

    @abc.abstractmethod
    def delete(self, ref: str) -> bool:
        """Delete the schedule with this id or key; False if there was none."""

    @abc.abstractmethod
    def prune_static(self, keep_task_ids: Sequence[str]) -> None:
        """Delete the static schedules of every task not in ``keep_task_ids``."""

    @abc.abstractmethod
    def all(self) -> list[Schedule]:
        """Every schedule, soonest next tick first."""

    @abc.abstractmethod
    def due(self, now: datetime, task_ids: Sequence[str], limit: int) -> list[Schedule]:
        """Schedules of these tasks whose next tick is at or before ``now``."""

    @abc.abstractmethod
    def next_due(self, task_ids: Sequence[str]) -> datetime | None:
        """The earliest next tick of any schedule of these tasks."""

    @abc.abstractmethod
    def fire(
        self,
        schedule: Schedule,
        next_run_at: datetime,
        last_run_at: datetime | None,
        runs: Sequence[NewRun],
        now: datetime,
        idempotency_ttl: timedelta,
    ) -> list[str] | None:
        """Claim the ticks from ``schedule.next_run_at`` up to ``next_run_at`` (exclusive)
        with a compare-and-set and create ``runs``, in one transaction.

        Returns the ids of the runs created, or None if another scheduler had already
        moved the schedule on (nothing is created then).
        """

    @abc.abstractmethod
    def find(self, ref: str) -> Schedule | None:
        """The schedule with this id or key."""

    @abc.abstractmethod
    def set_paused(
        self, ref: str, paused: bool, next_run_at: datetime | None, now: datetime
    ) -> Schedule | None:
        """Pause or resume the schedule with this id or key (resuming from
        ``next_run_at``); None if there is none."""
