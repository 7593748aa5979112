"""Provider send budgets shared by every worker process, in the SQL stores.

A mixin of SqlStore (like sqlreceipts.py); its queries live in ``limits.sql`` of each
dialect (tables from migration 0011). A budget (``ProviderRateLimit.key``) admits at most
``limit`` sends in any window of ``period``, counted by when each send *ended*: a service
counts a request when it arrives, somewhere between the start and the end of the send,
so a send admitted only when fewer than ``limit`` sends ended within the last ``period``
(sends still in flight count as ending now) can never make the service see one too many
in any window. A send still in flight holds its place until ``hold_until``, so a sender
that crashed mid-request frees its place eventually.

Admission is one transaction: the budget's row is locked first (PostgreSQL: a row lock;
SQLite: ``BEGIN IMMEDIATE`` already serialises writers), so two workers never both take
the last place.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tidings.store.sqlstore import Tx


class SendBudgetStore(abc.ABC):
    """What the delivery task needs from a store to share provider rate limits."""

    @abc.abstractmethod
    def admit_provider_send(
        self,
        key: str,
        limit: int,
        period: timedelta,
        send_id: str,
        hold_until: datetime,
        now: datetime,
    ) -> datetime | None:
        """Admit one send under budget ``key`` now (None), or say when to ask again."""

    @abc.abstractmethod
    def finish_provider_send(self, key: str, send_id: str, ended: datetime) -> None:
        """Record that the admitted send ``send_id`` ended at ``ended``."""


class SqlSendBudgets(SendBudgetStore):
    """Mixed into SqlStore, which supplies transactions and conversions."""

    @abc.abstractmethod
    def _transaction(self, *, write: bool) -> AbstractContextManager[Tx]: ...

    @abc.abstractmethod
    def _ts(self, value: datetime | None) -> Any: ...

    @abc.abstractmethod
    def _dt(self, value: Any) -> datetime | None: ...

    def admit_provider_send(
        self,
        key: str,
        limit: int,
        period: timedelta,
        send_id: str,
        hold_until: datetime,
        now: datetime,
    ) -> datetime | None:
        horizon = {"key": key, "horizon": self._ts(now - period)}
        with self._transaction(write=True) as tx:
            tx.run("lock_provider_budget", {"key": key})
            tx.run("forget_provider_sends", horizon)
            rows = tx.run("provider_sends_counting", horizon)
            if len(rows) < limit:
                tx.run(
                    "admit_provider_send",
                    {"key": key, "id": send_id, "until": self._ts(hold_until)},
                )
                return None
        return self._next_room(rows, limit, period, now)

    def _next_room(
        self, rows: list[Mapping[str, Any]], limit: int, period: timedelta, now: datetime
    ) -> datetime:
        # Sends in flight are assumed to end now: asking again then costs one query.
        ends = sorted(min(self._dt(r["until"]) or now, now) for r in rows)
        return ends[len(ends) - limit] + period

    def finish_provider_send(self, key: str, send_id: str, ended: datetime) -> None:
        with self._transaction(write=True) as tx:
            tx.run("finish_provider_send", {"key": key, "id": send_id, "until": self._ts(ended)})
