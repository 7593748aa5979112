"""What alerts and the timer-lateness histogram read and write (tables of migration 0022).

Timer lateness is stored, not computed from runs: a run's due time is overwritten at
each claim (a run that sleeps ten times fires ten timers), and finished runs keep none of
them. Each worker adds its samples as per-minute bucket counts (one upsert per bucket
and minute, about one write a few seconds per worker), so every process (the HTTP API's
``/metrics``, the dashboard, the ``timers.late`` alert) reads the same histogram across
all workers. Minutes older than a day are folded into one totals row.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

FOLDED = datetime(1970, 1, 1, tzinfo=UTC)
"""The ``minute`` of the totals row that old minutes are folded into."""


@dataclass(frozen=True)
class FailedRun:
    id: str
    task_id: str
    error: str | None
    """The error's message (first line), if any."""
    finished_at: datetime


@dataclass(frozen=True)
class Fired:
    """An alert window claimed: the figures to send (stored with the claim)."""

    figures: str
    """JSON text."""


class Monitoring(abc.ABC):
    """``store.monitoring``."""

    # -- timer lateness ---------------------------------------------------------------
    @abc.abstractmethod
    def add_lateness(
        self, worker_id: str, samples: Mapping[tuple[datetime, int], tuple[int, float]]
    ) -> None:
        """Add ``{(minute, bucket): (count, seconds)}`` to this worker's rows."""

    @abc.abstractmethod
    def lateness(self, since: datetime | None) -> dict[int, tuple[int, float]]:
        """``{bucket: (count, seconds)}`` over minutes from ``since`` (None: ever)."""

    @abc.abstractmethod
    def fold_lateness(self, before: datetime) -> None:
        """Fold every minute before ``before`` into the totals row (one transaction)."""

    # -- alert windows ----------------------------------------------------------------
    @abc.abstractmethod
    def seen_until(self, key: str) -> datetime | None:
        """Up to when the rule ``key`` last looked (when it last fired); None if never."""

    @abc.abstractmethod
    def claim_window(
        self,
        key: str,
        window: int,
        run_id: str,
        figures: str,
        now: datetime,
        seen_until: datetime | None = None,
    ) -> Fired | None:
        """Claim window ``window`` of the rule ``key`` for ``run_id`` with a conditional
        UPDATE (the rule's row is made first if missing), recording that it fired at
        ``now`` and looked up to ``seen_until`` (default ``now``). Returns what to send:
        these figures, or the ones stored by an earlier attempt of the same run; None if
        the window (or a later one) was already fired by another run."""

    @abc.abstractmethod
    def last_fired(self) -> dict[str, datetime]:
        """When each rule last fired, by key (rules that never fired are absent)."""

    # -- what the conditions read -----------------------------------------------------
    @abc.abstractmethod
    def failed_runs(
        self,
        since: datetime,
        until: datetime,
        tasks: Sequence[str] | None,
        exclude: Sequence[str],
        limit: int,
    ) -> tuple[int, list[FailedRun]]:
        """Runs that failed in ``(since, until]``: how many, and the latest ``limit``."""

    @abc.abstractmethod
    def delivery_outcomes(
        self, since: datetime, provider: str | None
    ) -> dict[str, tuple[int, int]]:
        """``{provider: (failed, finished)}`` over deliveries created since ``since``
        that have an outcome (sent, delivered, failed, bounced or complained)."""
