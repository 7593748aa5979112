"""A :class:`Store` composed of the concept implementations over one database object."""

from __future__ import annotations

from collections.abc import Callable

from tidings.clock import DatabaseClock
from tidings.store.base import Store
from tidings.store.db.broadcasts import DbBroadcasts
from tidings.store.db.budgets import DbBudgets
from tidings.store.db.bulk import DbBulkActions
from tidings.store.db.dashboard import DbDashboard
from tidings.store.db.database import Database
from tidings.store.db.events import DbEvents
from tidings.store.db.inbox import DbInbox
from tidings.store.db.keys import DbApiKeys
from tidings.store.db.monitoring import DbMonitoring
from tidings.store.db.notifications import DbNotifications
from tidings.store.db.ops import DbOps
from tidings.store.db.privacy import DbPrivacy
from tidings.store.db.pruning import DbPruning
from tidings.store.db.receipts import DbReceipts
from tidings.store.db.recipients import DbRecipients
from tidings.store.db.runs import DbRuns
from tidings.store.db.schedules import DbSchedules
from tidings.store.db.tokens import DbTokens
from tidings.store.db.topics import DbTopics


class DatabaseStore(Store):
    """Every concept over ``db``; a backend only picks its database object (and, where
    its SQL logic differs, a subclass of a concept: :attr:`runs_class`)."""

    runs_class: type[DbRuns] = DbRuns
    pruning_class: type[DbPruning] = DbPruning

    def __init__(self, db: Database) -> None:
        self.db = db
        self.url = db.url
        self.runs = self.runs_class(db)
        self.events = DbEvents(db)
        self.schedules = DbSchedules(db)
        self.recipients = DbRecipients(db)
        self.notifications = DbNotifications(db)
        self.topics = DbTopics(db)
        self.broadcasts = DbBroadcasts(db)
        self.bulk = DbBulkActions(db)
        self.inbox = DbInbox(db)
        self.receipts = DbReceipts(db)
        self.budgets = DbBudgets(db)
        self.keys = DbApiKeys(db)
        self.ops = DbOps(db)
        self.privacy = DbPrivacy(db)
        self.pruning = self.pruning_class(db)
        self.dashboard = DbDashboard(db)
        self.monitoring = DbMonitoring(db)
        self.tokens = DbTokens(db)

    def migrate(self) -> list[str]:
        return self.db.migrate()

    def pending_migrations(self) -> list[str]:
        return self.db.pending_migrations()

    def close(self) -> None:
        self.db.close()

    def keep_time(self, clock: DatabaseClock) -> None:
        self.db.keep_time(clock)

    def change_marker(self) -> int | None:
        return self.db.change_marker()

    def subscribe_wakeups(self, callback: Callable[[], None]) -> Callable[[], None] | None:
        return self.db.subscribe_wakeups(callback)

    def subscribe_inbox(self, callback: Callable[[str | None], None]) -> Callable[[], None] | None:
        return self.db.subscribe_inbox(callback)
