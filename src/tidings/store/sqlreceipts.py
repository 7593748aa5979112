"""Push receipts in the SQL stores: the deliveries whose tickets are due for a receipt.

A mixin of SqlStore (like sqlnotify.py); its query lives in ``receipts.sql`` of each
dialect. Recording a receipt's outcome reuses ``update_delivery``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tidings.notify.records import Delivery

if TYPE_CHECKING:
    from tidings.store.sqlstore import Tx


class ReceiptStore(abc.ABC):
    """What the push receipts task needs from a store."""

    @abc.abstractmethod
    def deliveries_awaiting_receipts(
        self,
        channel: str,
        provider: str,
        sent_after: datetime,
        sent_before: datetime,
        limit: int,
    ) -> list[Delivery]:
        """Deliveries still ``sent`` through ``provider``, sent in the window, oldest first."""


class SqlReceipts(ReceiptStore):
    """Mixed into SqlStore, which supplies transactions and conversions."""

    @abc.abstractmethod
    def _transaction(self, *, write: bool) -> AbstractContextManager[Tx]: ...

    @abc.abstractmethod
    def _ts(self, value: datetime | None) -> Any: ...

    @abc.abstractmethod
    def _delivery(self, r: Mapping[str, Any]) -> Delivery: ...

    def deliveries_awaiting_receipts(
        self,
        channel: str,
        provider: str,
        sent_after: datetime,
        sent_before: datetime,
        limit: int,
    ) -> list[Delivery]:
        params = {
            "channel": channel,
            "provider": provider,
            "sent_after": self._ts(sent_after),
            "sent_before": self._ts(sent_before),
            "limit": limit,
        }
        with self._transaction(write=False) as tx:
            rows = tx.run("deliveries_awaiting_receipts", params)
        return [self._delivery(r) for r in rows]
