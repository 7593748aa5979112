"""The store: one object per database, composed of one object per concept.

``store.runs``, ``store.events``, ``store.schedules``, ``store.recipients``,
``store.notifications``, ``store.topics``, ``store.broadcasts``, ``store.bulk``,
``store.inbox``, ``store.receipts``, ``store.budgets``, ``store.keys``, ``store.ops``,
``store.privacy``, ``store.pruning``, ``store.dashboard``, ``store.monitoring`` and
``store.tokens`` each implement the interface of the module of that name; the store itself
holds only its lifecycle (migrations, close) and the wake-up subscriptions. Every method is
synchronous and thread-safe, and takes the time it needs (``now``) from the engine clock.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

from tidings.clock import DatabaseClock
from tidings.store.broadcasts import Broadcasts
from tidings.store.budgets import Budgets
from tidings.store.bulk import BulkActions
from tidings.store.dashboard import Dashboard
from tidings.store.events import Events
from tidings.store.inbox import Inbox
from tidings.store.keys import ApiKeys
from tidings.store.monitoring import Monitoring
from tidings.store.notifications import Notifications
from tidings.store.ops import Ops
from tidings.store.privacy import Privacy
from tidings.store.pruning import Pruning
from tidings.store.receipts import Receipts
from tidings.store.recipients import Recipients
from tidings.store.runs import Runs
from tidings.store.schedules import Schedules
from tidings.store.tokens import Tokens
from tidings.store.topics import Topics


class Store(abc.ABC):
    """Persistence of runs, events, schedules and notifications, by concept."""

    url: str
    runs: Runs
    events: Events
    schedules: Schedules
    recipients: Recipients
    notifications: Notifications
    topics: Topics
    broadcasts: Broadcasts
    bulk: BulkActions
    inbox: Inbox
    receipts: Receipts
    budgets: Budgets
    keys: ApiKeys
    ops: Ops
    privacy: Privacy
    pruning: Pruning
    dashboard: Dashboard
    monitoring: Monitoring
    tokens: Tokens

    @abc.abstractmethod
    def migrate(self) -> list[str]:
        """Apply pending migrations (safe with concurrent starters); return those applied."""

    @abc.abstractmethod
    def pending_migrations(self) -> list[str]:
        """Names of migrations not yet applied."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def keep_time(self, clock: DatabaseClock) -> None:
        """Keep ``clock`` corrected to the database server's clock (database time), from
        now until the store is closed.

        A store that processes on several hosts share (PostgreSQL) measures the
        server's clock now and periodically; a store of one host (SQLite) leaves
        ``clock`` on that host's wall clock, which every process already shares.
        """
        return None

    def change_marker(self) -> int | None:
        """A value that changes when another connection commits; None if unsupported.

        Lets an idle worker notice work triggered by another process at once instead
        of at its next poll.
        """
        return None

    def subscribe_wakeups(self, callback: Callable[[], None]) -> Callable[[], None] | None:
        """Have ``callback`` called (on any thread, so it must be quick and thread-safe)
        whenever another connection may have made a run due.

        Returns a function that unsubscribes, or None if this store cannot push
        wake-ups (an idle worker then polls :meth:`change_marker`).
        """
        return None

    def subscribe_inbox(self, callback: Callable[[str | None], None]) -> Callable[[], None] | None:
        """Have ``callback(recipient_id)`` called (on any thread) whenever a recipient's
        inbox changes, and ``callback(None)`` when changes may have been missed.

        Returns a function that unsubscribes, or None if this store cannot push inbox
        changes (a caller then polls :meth:`Inbox.marker`).
        """
        return None
