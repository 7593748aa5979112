"""Provider send budgets shared by every worker process.

A budget (``ProviderRateLimit.key``) admits at most ``limit`` sends in any window of
``period``, counted by when each send *ended*: a service counts a request when it
arrives, somewhere between the start and the end of the send, so a send admitted only
when fewer than ``limit`` sends ended within the last ``period`` (sends still in flight
count as ending now) can never make the service see one too many in any window. A send
still in flight holds its place until ``hold_until``, so a sender that crashed
mid-request frees its place eventually.
"""

from __future__ import annotations

import abc
from datetime import datetime, timedelta


class Budgets(abc.ABC):
    """``store.budgets``: what the delivery task needs to share provider rate limits."""

    @abc.abstractmethod
    def admit(
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
    def finish(self, key: str, send_id: str, ended: datetime) -> None:
        """Record that the admitted send ``send_id`` ended at ``ended``."""
