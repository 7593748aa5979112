"""The SQLite store: every concept over a :class:`SqliteDatabase`."""

from __future__ import annotations

from tidings.store.db.store import DatabaseStore
from tidings.store.sqlite.database import SqliteDatabase


class SqliteStore(DatabaseStore):
    """Embedded store on one SQLite file (or ``:memory:``)."""

    db: SqliteDatabase

    def __init__(self, url: str) -> None:
        super().__init__(SqliteDatabase(url))
