"""Bulk actions: cancel or replay every run a filter matches, a page at a time; and the
new run of a replay from a step, made with the source run's earlier steps.

A bulk action's filter is fixed when it is made (runs created after it never match).
Its run walks the matching runs in ``(created_at, id)`` order; the keyset cursor, the
page count and the progress counts advance in the transaction that acts on a page, and
only from the page count the page was read at, so a page read again after a crash is
acted on once.
"""

from __future__ import annotations

import abc
import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tidings.store.runs import NewRun

BULK_KINDS = ("cancel", "replay")


@dataclass(frozen=True)
class RunFilter:
    """Which runs a bulk action acts on (None: any)."""

    tasks: tuple[str, ...] | None = None
    statuses: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    """A run matches when it carries every one of these tags."""
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True)
class NewBulkAction:
    id: str
    kind: str
    """``"cancel"`` or ``"replay"``."""
    filter: RunFilter
    page_size: int
    run: NewRun
    """The run that walks the matching runs (not written when none match)."""


@dataclass(frozen=True)
class BulkRow:
    id: str
    kind: str
    filter: RunFilter
    upto: datetime
    run_id: str | None
    run_status: str | None
    page_size: int
    total: int
    done: int
    changed: int
    pages: int
    cursor_at: datetime | None
    """The keyset cursor: ``created_at`` and ``id`` of the last run acted on."""
    cursor_id: str | None
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class MatchedRun:
    """A run of a bulk action's page, as replaying it needs it."""

    id: str
    task_id: str
    status: str
    payload: str
    """JSON text."""
    priority: int
    queue: str
    tags: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True)
class Replay:
    """One source run of a replay page and its new run (None: it cannot be replayed)."""

    source_id: str
    run: NewRun | None


class BulkActions(abc.ABC):
    """``store.bulk``."""

    @abc.abstractmethod
    def count(self, filter: RunFilter, upto: datetime, bulk_task: str) -> int:
        """How many runs created at or before ``upto`` the filter matches."""

    @abc.abstractmethod
    def create(self, new: NewBulkAction, now: datetime, idempotency_ttl: timedelta) -> BulkRow:
        """Count the matching runs and write the action with its run, in one
        transaction; an action that matches nothing is written finished, without a run."""

    @abc.abstractmethod
    def get(self, bulk_id: str) -> BulkRow | None: ...

    @abc.abstractmethod
    def list(self, limit: int) -> builtins.list[BulkRow]:
        """Newest first."""

    @abc.abstractmethod
    def page(self, row: BulkRow, bulk_task: str) -> builtins.list[MatchedRun]:
        """The next ``row.page_size`` matching runs after the action's cursor."""

    @abc.abstractmethod
    def cancel_page(
        self, row: BulkRow, runs: Sequence[MatchedRun], now: datetime
    ) -> tuple[BulkRow, builtins.list[str]]:
        """Cancel the page's runs that still match the action's statuses (each as
        ``runs.cancel`` does) and advance the action past them, in one transaction; if
        the action moved past ``row.pages`` already, do nothing. Returns the action as
        it now is and the runs this call cancelled."""

    @abc.abstractmethod
    def replay_page(
        self,
        row: BulkRow,
        runs: Sequence[MatchedRun],
        replays: Sequence[Replay],
        now: datetime,
        idempotency_ttl: timedelta,
    ) -> tuple[BulkRow, builtins.list[str]]:
        """Write the page's new runs, each recorded against its source run (a source
        already replayed by this action is not replayed again), and advance the action
        past ``runs``, in one transaction; if it moved past ``row.pages`` already, do
        nothing. Returns the action as it now is and the runs this call created."""

    @abc.abstractmethod
    def fork(self, new: NewRun, source_run_id: str, steps: Sequence[str], now: datetime) -> None:
        """Write ``new`` with copies of the named steps of ``source_run_id`` (results,
        attempts and times as recorded), in one transaction."""
