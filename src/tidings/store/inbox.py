"""The in-app inbox and its change feed."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import datetime, timedelta

from tidings.records.notify import InboxChange, InboxCounts, InboxItem
from tidings.store.runs import NewRun

MARK_KINDS = ("seen", "read", "unread", "archived", "unarchived", "unsnoozed")
"""What :meth:`Inbox.mark` sets; each is also the kind of the change-feed entries."""


class Inbox(abc.ABC):
    """``store.inbox``."""

    @abc.abstractmethod
    def page(
        self,
        recipient_id: str,
        status: str,
        types: Sequence[str] | None,
        tags: Sequence[str] | None,
        before: tuple[datetime, str] | None,
        limit: int,
        now: datetime,
    ) -> list[InboxItem]:
        """Newest first, strictly older than ``before`` (created_at, id). ``status``:
        ``all`` (neither archived nor snoozed at ``now``), ``unread``, ``archived``."""

    @abc.abstractmethod
    def items(self, recipient_id: str, ids: Sequence[str]) -> list[InboxItem]:
        """The recipient's items among ``ids`` (others' ids are ignored)."""

    @abc.abstractmethod
    def unread_count(self, recipient_id: str, now: datetime) -> int: ...

    @abc.abstractmethod
    def counts(self, recipient_id: str, now: datetime) -> InboxCounts:
        """Unread and unseen items in view (neither archived nor snoozed), and archived."""

    @abc.abstractmethod
    def mark(
        self, recipient_id: str, ids: Sequence[str] | None, kind: str, now: datetime
    ) -> list[str]:
        """Set one state (a kind of :data:`MARK_KINDS`) on the recipient's items ``ids``
        (others' ids are ignored) and append a change-feed entry per item changed.
        ``ids`` None: every item in view for ``seen`` and ``read``, every read item in
        view for ``archived``, every due snooze for ``unsnoozed``. Returns the ids changed."""

    @abc.abstractmethod
    def snooze(
        self,
        recipient_id: str,
        ids: Sequence[str],
        until: datetime,
        now: datetime,
        timer: NewRun,
        idempotency_ttl: timedelta,
    ) -> list[str]:
        """Hide the recipient's items ``ids`` (not archived) until ``until``, unread and
        unseen again; in the same transaction create ``timer`` (the run that returns them
        at ``until``) if any item changed. Returns the ids changed."""

    @abc.abstractmethod
    def changes(self, recipient_id: str, after_seq: int, limit: int) -> list[InboxChange]:
        """The recipient's changes with seq > ``after_seq``, oldest first."""

    @abc.abstractmethod
    def last_seq(self, recipient_id: str) -> int:
        """The latest change-feed sequence number of the recipient's inbox (0: none)."""

    @abc.abstractmethod
    def marker(self) -> int:
        """A number that changes whenever any inbox changes (a cheap change check)."""
