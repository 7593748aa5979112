"""LISTEN for inbox changes: the ``inbox_changes_notify`` trigger (migration 0006)
sends each changed recipient id on ``<schema>_inb`` at commit."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from psycopg import sql

from tidings.errors import StoreError
from tidings.store.postgres.store import PostgresStore

log = logging.getLogger("tidings.store.postgres")

_POLL = 0.2  # seconds between looks at the stop flag


class InboxListener:
    """A daemon thread calling ``on_change(recipient_id)`` for every inbox change, and
    ``on_change(None)`` after a lost connection (changes may have been missed)."""

    def __init__(self, store: PostgresStore, on_change: Callable[[str | None], None]) -> None:
        self.channel = f"{store.schema}_inb"
        self._store = store
        self._on_change = on_change
        self._stopping = threading.Event()
        self._listening = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"tidings-inbox-{store.schema}", daemon=True
        )
        self._thread.start()
        self._listening.wait(10)

    def _loop(self) -> None:
        delay = 0.1
        while not self._stopping.is_set():
            try:
                self._listen()
                delay = 0.1
            except (psycopg.Error, StoreError) as exc:
                if self._stopping.is_set():
                    return
                log.warning("inbox LISTEN connection lost (%s); reconnecting", exc)
                self._on_change(None)
                self._stopping.wait(delay)
                delay = min(delay * 2, 5.0)

    def _listen(self) -> None:
        conn = self._store._connect(autocommit=True)
        try:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            self._listening.set()
            while not self._stopping.is_set():
                for note in conn.notifies(timeout=_POLL):
                    self._on_change(note.payload)
        finally:
            conn.close()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(_POLL + 1)
