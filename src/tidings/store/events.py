"""Events: recording them once, fanning out to runs, resuming waits; delayed events."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tidings.store.runs import CancelKey, NewRun

RUN_FINISHED = "tidings/run.finished"
"""Internal event a child run sends its parent when it ends."""


@dataclass(frozen=True)
class NewEvent:
    id: str
    name: str
    data: str
    """JSON text."""
    ts: datetime


@dataclass(frozen=True)
class EventSent:
    """What ``send_event`` did: the runs it started and cancelled, the waits it resumed."""

    event_id: str
    run_ids: tuple[str, ...]
    accepted: bool
    """False when the id had been seen: nothing was done again."""
    cancelled: tuple[str, ...] = ()
    resumed: tuple[str, ...] = ()


class Events(abc.ABC):
    """``store.events``: received events and events kept for later delivery."""

    @abc.abstractmethod
    def send(
        self,
        event: NewEvent,
        runs: Sequence[NewRun],
        cancels: Sequence[CancelKey],
        now: datetime,
        idempotency_ttl: timedelta,
    ) -> EventSent:
        """Record an event once (by id), start ``runs``, cancel runs holding one of
        ``cancels``, and resume every run waiting for it, in one transaction."""

    @abc.abstractmethod
    def get(self, event_id: str) -> tuple[NewEvent, datetime] | None:
        """An event and when it was received."""

    # -- delayed events ----------------------------------------------------------------
    @abc.abstractmethod
    def schedule(self, event: NewEvent, deliver_at: datetime, now: datetime) -> bool:
        """Keep ``event`` for delivery at ``deliver_at``; False if its id was seen."""

    @abc.abstractmethod
    def get_scheduled(self, event_id: str) -> tuple[NewEvent, datetime] | None:
        """An event waiting for delivery and its delivery time."""

    @abc.abstractmethod
    def due_scheduled(self, now: datetime, limit: int) -> list[tuple[NewEvent, datetime]]:
        """Events whose delivery time has come, soonest first."""

    @abc.abstractmethod
    def next_scheduled(self) -> datetime | None:
        """The earliest delivery time of any event waiting for delivery."""

    @abc.abstractmethod
    def deliver_scheduled(
        self,
        event: NewEvent,
        runs: Sequence[NewRun],
        cancels: Sequence[CancelKey],
        now: datetime,
        idempotency_ttl: timedelta,
    ) -> EventSent | None:
        """Take the scheduled event and send it as :meth:`send` does, in one
        transaction; None if another scheduler took it first (nothing is done)."""

    @abc.abstractmethod
    def drop_scheduled(self, event_id: str) -> bool:
        """Forget an event waiting for delivery (it can no longer be delivered)."""
