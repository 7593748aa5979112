"""Operations: what ``tidings doctor`` asks the store."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class StuckRun:
    """A run no worker is taking care of (``tidings doctor``)."""

    id: str
    task_id: str
    queue: str
    status: str
    due_at: datetime
    """Lease expiry of a RUNNING run; due time of a QUEUED or WAITING one."""


@dataclass(frozen=True)
class StuckRuns:
    expired_leases: list[StuckRun]
    """RUNNING runs whose lease expired long ago: no worker reclaimed them."""
    overdue: list[StuckRun]
    """QUEUED or WAITING runs due long ago that no worker picked up."""
    expired_count: int
    overdue_count: int


class Ops(abc.ABC):
    """``store.ops``: health checks of the database."""

    @abc.abstractmethod
    def database_now(self) -> datetime:
        """The database server's clock (for the clock-skew check)."""

    @abc.abstractmethod
    def stuck_runs(self, lease_before: datetime, due_before: datetime, limit: int) -> StuckRuns:
        """RUNNING runs whose lease expired before ``lease_before`` and QUEUED or WAITING
        runs due before ``due_before``, oldest first, at most ``limit`` of each."""
