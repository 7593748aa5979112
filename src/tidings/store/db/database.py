"""What a backend supplies: transactions, conversions and its named queries.

One object per store, shared by every concept implementation of that store (runs,
events, notifications...). SQLite and PostgreSQL differ here: how a transaction begins,
whether a lone statement may commit by itself, how times and lists travel to the driver.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from tidings.clock import DatabaseClock
from tidings.errors import StoreError, UnstorableTextError

Row = Mapping[str, Any]


def unencodable_text(exc: UnicodeEncodeError, params: Mapping[str, Any] | None) -> StoreError:
    """The error for a parameter holding text that is not valid Unicode (a lone
    surrogate): refused before anything was sent, named, and a 422 to its sender."""
    for name, value in (params or {}).items():
        values = value if isinstance(value, list | tuple) else (value,)
        for v in values:
            if isinstance(v, str):
                try:
                    v.encode()
                except UnicodeEncodeError as bad:
                    return UnstorableTextError(
                        f"{name} is not valid Unicode (a lone surrogate "
                        f"{v[bad.start : bad.start + 1]!a}), which the database cannot hold"
                    )
    return UnstorableTextError(f"a value is not valid Unicode: {exc.reason}")


class Tx(Protocol):
    def run(self, query: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Execute a named query and return its rows (empty for statements)."""
        ...

    def rowcount(self) -> int:
        """Rows changed by the last statement."""
        ...


class Database(abc.ABC):
    """A backend's connection(s) to its database, used by every concept of one store."""

    url: str
    queries: dict[str, str]
    """Every named query of the backend, from its ``<concept>.sql`` files."""
    concurrent_writers: bool = False
    """Whether write transactions run concurrently (PostgreSQL), so a check-then-write
    must be one statement or take a lock; False where writers are serialised (SQLite's
    ``BEGIN IMMEDIATE``)."""

    @abc.abstractmethod
    def transaction(self, *, write: bool) -> AbstractContextManager[Tx]:
        """A transaction, committed when the block ends (rolled back on an exception)."""

    def autocommit(self, *, write: bool) -> AbstractContextManager[Tx]:
        """For statements each correct on its own (a claim, a one-statement read): where
        the database allows, each commits by itself, without BEGIN and COMMIT round
        trips. By default an ordinary transaction."""
        return self.transaction(write=write)

    def claim_statements(self, *, write: bool) -> AbstractContextManager[Tx]:
        """For the plain claim and ``next_due``, statements correct on their own: by
        default as :meth:`autocommit`; a backend may plan them differently."""
        return self.autocommit(write=write)

    def pipelined(self) -> AbstractContextManager[Tx]:
        """A write transaction whose statements need not wait for one another: where the
        driver can, BEGIN, every statement whose rows are not read, and COMMIT travel in
        one round trip. By default the ordinary write transaction."""
        return self.transaction(write=True)

    # -- conversions -------------------------------------------------------------------
    @abc.abstractmethod
    def ts(self, value: datetime | None) -> Any:
        """A datetime as the driver stores it."""

    @abc.abstractmethod
    def dt(self, value: Any) -> datetime | None:
        """A stored time back as an aware UTC datetime."""

    def req_dt(self, value: Any) -> datetime:
        """A stored time that cannot be NULL."""
        result = self.dt(value)
        if result is None:
            raise ValueError("unexpected NULL time")
        return result

    @abc.abstractmethod
    def array(self, values: Sequence[str] | None) -> Any:
        """A list parameter as the backend's queries expect it."""

    @abc.abstractmethod
    def json_path(self, parts: Sequence[str]) -> Any:
        """A path into JSON text (object keys; a part of digits also indexes a list) as
        the backend's queries expect it."""

    # -- lifecycle ---------------------------------------------------------------------
    @abc.abstractmethod
    def migrate(self) -> list[str]: ...

    @abc.abstractmethod
    def pending_migrations(self) -> list[str]: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def keep_time(self, clock: DatabaseClock) -> None:
        """Keep ``clock`` on the server's time (see :meth:`Store.keep_time`); one host's
        database (SQLite) has nothing to correct."""
        return None

    def change_marker(self) -> int | None:
        return None

    def subscribe_wakeups(self, callback: Callable[[], None]) -> Callable[[], None] | None:
        return None

    def subscribe_inbox(self, callback: Callable[[str | None], None]) -> Callable[[], None] | None:
        return None


class Bound:
    """Base of a concept implementation: the database's methods, bound once.

    Bound as attributes at construction, so a call costs what a method of the store
    cost before (no extra lookup through the database object on the hot path).
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._transaction = db.transaction
        self._autocommit = db.autocommit
        self._ts = db.ts
        self._dt = db.dt
        self._req = db.req_dt
        self._array = db.array
