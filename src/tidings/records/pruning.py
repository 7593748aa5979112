"""What a prune did (``app.prune()``, ``tidings prune``, the built-in ``tidings.prune``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class PruneReport:
    """One pass of pruning, or (``dry_run``) what one would delete now.

    ``counts`` holds, per kind (``runs``, ``events``, ``deliveries``, ``outbox``,
    ``inbox``, ``inbox_changes``, ``webhook_events``, ``idempotency_keys``,
    ``dedup_keys``, ``digests``, ``broadcasts``, ``prunes``), the rows deleted, or that
    would be; a run's steps, logs and other dependants go with it and are counted in
    ``rows``.
    """

    started_at: datetime
    finished_at: datetime
    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)
    """Rows of each kind deleted (or, in a dry run, that would be)."""
    batches: int = 0
    """Transactions that deleted something (0 in a dry run)."""
    rows: int = 0
    """Every row deleted, dependants (steps, logs, audience rows...) included."""
    max_batch_rows: int = 0
    """The most rows one transaction deleted: bounded by the batch size times what
    belongs to one row (a run's steps and logs), never the size of the table."""
    complete: bool = True
    """False when the pass stopped at its time budget with rows still due (the next
    pass continues)."""
    id: str | None = None
    """The recorded prune's id (None for a dry run)."""

    @property
    def duration(self) -> timedelta:
        return self.finished_at - self.started_at

    @property
    def total(self) -> int:
        """Rows of every kind, dependants not counted."""
        return sum(self.counts.values())

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "duration_seconds": round(self.duration.total_seconds(), 3),
            "dry_run": self.dry_run,
            "counts": dict(self.counts),
            "batches": self.batches,
            "rows": self.rows,
            "max_batch_rows": self.max_batch_rows,
            "complete": self.complete,
        }
