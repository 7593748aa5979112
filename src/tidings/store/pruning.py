"""Retention in the store: the bounded batches ``tidings.prune`` deletes in, and its log."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime

from tidings.records.pruning import PruneReport

Cursor = tuple[datetime, str]
"""Where a kind's next batch starts: the time and id of the last row looked at."""

KINDS = (
    "runs",
    "events",
    "webhook_events",
    "deliveries",
    "outbox",
    "inbox",
    "inbox_changes",
    "idempotency_keys",
    "dedup_keys",
    "digests",
    "broadcasts",
    "prunes",
)
"""Every kind pruned, in the order a pass prunes them."""


@dataclass(frozen=True)
class PruneBatch:
    """One transaction of pruning."""

    deleted: int
    """Rows of the kind deleted."""
    rows: int
    """Every row the transaction deleted, the kind's dependants included."""
    cursor: Cursor | None
    """Where the next batch of the kind starts; None once nothing before the cutoff is
    left to look at."""


class Pruning(abc.ABC):
    """``store.pruning``: deleting what retention no longer keeps, a batch at a time."""

    @abc.abstractmethod
    def batch(self, kind: str, cutoff: datetime, limit: int, cursor: Cursor | None) -> PruneBatch:
        """One short transaction: delete up to ``limit`` rows of ``kind`` older than
        ``cutoff`` (for keys: expired before it), with what belongs to them, never a row
        an active run still needs. ``cursor`` is the previous batch's (None: from the
        oldest)."""

    @abc.abstractmethod
    def count(self, kind: str, cutoff: datetime) -> int:
        """How many rows of ``kind`` :meth:`batch` would delete, deleting nothing."""

    @abc.abstractmethod
    def running_since(self) -> datetime | None:
        """When the longest-running RUNNING run started (None: none runs). An event
        received since may still be about to satisfy a wait it registers."""

    @abc.abstractmethod
    def oldest(self, kind: str) -> datetime | None:
        """The time of the oldest row of ``kind`` (``runs``: finished run; ``events``,
        ``deliveries``, ``outbox``, ``inbox``), for ``tidings doctor``."""

    @abc.abstractmethod
    def record(self, report: PruneReport) -> None:
        """Keep ``report`` (it has an id) as the latest prune."""

    @abc.abstractmethod
    def last(self) -> PruneReport | None:
        """The latest recorded prune."""
