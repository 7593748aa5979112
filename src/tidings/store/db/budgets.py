"""Provider send budgets over a backend's database object (tables from migration 0011).

Admission is one transaction: the budget's row is locked first (PostgreSQL: a row lock;
SQLite: ``BEGIN IMMEDIATE`` already serialises writers), so two workers never both take
the last place. See :mod:`tidings.store.budgets` for the counting rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from tidings.store.budgets import Budgets
from tidings.store.db.database import Bound, Row


class DbBudgets(Bound, Budgets):
    def admit(
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
        self, rows: Sequence[Row], limit: int, period: timedelta, now: datetime
    ) -> datetime:
        # Sends in flight are assumed to end now: asking again then costs one query.
        ends = sorted(min(self._dt(r["until"]) or now, now) for r in rows)
        return ends[len(ends) - limit] + period

    def finish(self, key: str, send_id: str, ended: datetime) -> None:
        with self._transaction(write=True) as tx:
            tx.run("finish_provider_send", {"key": key, "id": send_id, "until": self._ts(ended)})
