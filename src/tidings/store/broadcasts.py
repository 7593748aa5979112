"""Broadcasts: one notification type to a whole audience, routed a page at a time.

A broadcast's audience is fixed when it is made (a topic's subscribers then, or a list);
its run walks it in recipient id order. The cursor (the last id routed) advances in the
transaction that records a page, and only from the cursor the page started at, so a page
re-routed after a crash is recorded once.
"""

from __future__ import annotations

import abc
import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tidings.records.notify import Delivery
from tidings.store.notifications import NewNotification
from tidings.store.runs import NewRun


@dataclass(frozen=True)
class NewBroadcast:
    id: str
    type_id: str
    topic: str | None
    recipients: tuple[str, ...] | None
    """The list audience (None: the topic's subscribers)."""
    data: str
    """JSON text."""
    channels: str | None
    """JSON list, or None for the type's channels."""
    dedup_key: str
    run: NewRun
    """The run that routes it."""
    tags: tuple[str, ...] = ()
    """Kept on every inbox item of the broadcast."""


@dataclass(frozen=True)
class BroadcastRow:
    id: str
    type_id: str
    topic: str | None
    data: str
    channels: str | None
    dedup_key: str
    run_id: str
    total: int
    routed: int
    cursor: str
    created_at: datetime
    finished_at: datetime | None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class PageRecord:
    """One routed page, recorded in one transaction."""

    broadcast_id: str
    cursor: str
    """Where the page started (it is recorded only if the broadcast is still there)."""
    next: str
    """The last recipient id of the page."""
    finished: bool
    notifications: Sequence[NewNotification]
    runs: Sequence[NewRun] = ()
    """The delivery runs (each sends a batch of the page's deliveries)."""


class Broadcasts(abc.ABC):
    """``store.broadcasts``."""

    @abc.abstractmethod
    def create(
        self, new: NewBroadcast, now: datetime, idempotency_ttl: timedelta
    ) -> tuple[BroadcastRow, bool]:
        """Write the broadcast, its audience and its run in one transaction. If the
        run's idempotency key is held, write nothing and return the broadcast of the
        holding run with False."""

    @abc.abstractmethod
    def get(self, broadcast_id: str) -> BroadcastRow | None: ...

    @abc.abstractmethod
    def list(self, limit: int) -> builtins.list[BroadcastRow]:
        """Newest first."""

    @abc.abstractmethod
    def page(self, broadcast_id: str, after: str, limit: int) -> builtins.list[str]:
        """Audience ids greater than ``after``, in id order."""

    @abc.abstractmethod
    def record_page(
        self, page: PageRecord, now: datetime, dedup_ttl: timedelta, idempotency_ttl: timedelta
    ) -> tuple[BroadcastRow, int]:
        """Record a routed page: its notifications (each reserving its dedup key; one
        whose key is held is left out), deliveries, inbox items and change-feed rows,
        the delivery runs, and the advanced cursor, in one transaction. If the broadcast
        has moved past ``page.cursor`` already, write nothing. Returns the broadcast as
        it now is and how many notifications this call recorded."""

    @abc.abstractmethod
    def deliveries(
        self, broadcast_id: str, channel: str | None, status: str | None, limit: int
    ) -> builtins.list[Delivery]:
        """The broadcast's deliveries, newest first."""

    @abc.abstractmethod
    def counts(self, broadcast_id: str) -> dict[str, dict[str, int]]:
        """``{channel: {status: n}}`` over the broadcast's deliveries."""
