"""The in-app inbox and its change feed."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import datetime

from tidings.records.notify import InboxChange, InboxItem


class Inbox(abc.ABC):
    """``store.inbox``."""

    @abc.abstractmethod
    def page(
        self,
        recipient_id: str,
        unread_only: bool,
        archived: bool,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[InboxItem]:
        """Newest first, strictly older than ``before`` (created_at, id)."""

    @abc.abstractmethod
    def items(self, recipient_id: str, ids: Sequence[str]) -> list[InboxItem]:
        """The recipient's items among ``ids`` (others' ids are ignored)."""

    @abc.abstractmethod
    def unread_count(self, recipient_id: str) -> int: ...

    @abc.abstractmethod
    def mark(self, recipient_id: str, ids: Sequence[str] | None, kind: str, now: datetime) -> int:
        """Mark items (all unread ones when ``ids`` is None) ``read`` or ``archived``;
        only the recipient's own items change. Returns how many changed."""

    @abc.abstractmethod
    def changes(self, recipient_id: str, after_seq: int, limit: int) -> list[InboxChange]:
        """The recipient's changes with seq > ``after_seq``, oldest first."""

    @abc.abstractmethod
    def last_seq(self, recipient_id: str) -> int:
        """The latest change-feed sequence number of the recipient's inbox (0: none)."""

    @abc.abstractmethod
    def marker(self) -> int:
        """A number that changes whenever any inbox changes (a cheap change check)."""
