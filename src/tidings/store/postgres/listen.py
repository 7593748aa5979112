"""LISTEN threads of the PostgreSQL store: run wake-ups (the ``runs_wake`` trigger
notifies ``<schema>_wake`` when a run becomes due) and inbox changes (the
``inbox_changes_notify`` trigger of migration 0006 sends each changed recipient id on
``<schema>_inb`` at commit)."""

from __future__ import annotations

import abc
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from tidings.errors import StoreError

log = logging.getLogger("tidings.store.postgres")

_POLL = 0.2  # seconds between looks at the stop flag

Connect = Callable[[], "psycopg.Connection[Any]"]
"""Opens a new autocommit connection to the store's database."""


class _ListenThread(abc.ABC):
    """A daemon thread LISTENing on ``channel``: each notification goes to
    :meth:`_notified`; a lost connection is logged, reported to :meth:`_lost` (what was
    notified meanwhile is gone) and retried with backoff until :meth:`stop`."""

    what = "LISTEN"

    def __init__(self, connect: Connect, channel: str, thread_name: str) -> None:
        self.channel = channel
        self._connect = connect
        self._stopping = threading.Event()
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=thread_name, daemon=True)
        self._thread.start()
        # Wait for LISTEN so a notification sent right after the start is seen.
        self._listening.wait(10)

    @abc.abstractmethod
    def _notified(self, payload: str) -> None:
        """Handle one notification's payload (on the listening thread)."""

    @abc.abstractmethod
    def _lost(self) -> None:
        """The connection was lost: whatever was notified meanwhile is gone."""

    def _relistening(self) -> None:  # noqa: B027 (an optional hook: nothing by default)
        """Called when LISTEN is in place again after a lost connection."""

    def _loop(self) -> None:
        delay = 0.1
        while not self._stopping.is_set():
            try:
                self._listen()
                delay = 0.1
            except (psycopg.Error, StoreError) as exc:
                if self._stopping.is_set():
                    return
                log.warning("%s connection lost (%s); reconnecting in %.1fs", self.what, exc, delay)
                self._lost()
                self._stopping.wait(delay)
                delay = min(delay * 2, 5.0)

    def _listen(self) -> None:
        conn = self._connect()
        try:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            if self._listening.is_set():
                self._relistening()
            self._listening.set()
            while not self._stopping.is_set():
                for note in conn.notifies(timeout=_POLL):
                    self._notified(note.payload)
        finally:
            conn.close()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(_POLL + 1)


class InboxListener(_ListenThread):
    """Calls ``on_change(recipient_id)`` for every inbox change, and ``on_change(None)``
    after a lost connection (changes may have been missed)."""

    what = "inbox LISTEN"

    def __init__(
        self, connect: Connect, schema: str, on_change: Callable[[str | None], None]
    ) -> None:
        self._on_change = on_change
        super().__init__(connect, f"{schema}_inb", f"tidings-inbox-{schema}")

    def _notified(self, payload: str) -> None:
        self._on_change(payload)

    def _lost(self) -> None:
        self._on_change(None)


class WakeListener(_ListenThread):
    """LISTENs on the store's wake-up channel.

    Each notification (the ``runs_wake`` trigger: some process made a run due) bumps
    :attr:`count` and calls every subscribed callback on this thread; a worker's
    callback wakes its event loop at once. After a lost connection, and once listening
    again, both happen too, since notifications may have been missed meanwhile.
    """

    def __init__(self, connect: Connect, channel: str, schema: str) -> None:
        self.count = 0
        self._callbacks: list[Callable[[], None]] = []
        self._callbacks_lock = threading.Lock()
        super().__init__(connect, channel, f"tidings-listen-{schema}")

    def add(self, callback: Callable[[], None]) -> None:
        with self._callbacks_lock:
            self._callbacks.append(callback)

    def discard(self, callback: Callable[[], None]) -> None:
        with self._callbacks_lock, contextlib.suppress(ValueError):
            self._callbacks.remove(callback)

    def _changed(self) -> None:
        self.count += 1
        with self._callbacks_lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback()
            except Exception:  # one subscriber's failure must not stop the others
                log.exception("wake-up callback failed")

    def _notified(self, payload: str) -> None:
        self._changed()

    def _lost(self) -> None:
        self._changed()  # wake the workers: they may have missed notifications

    def _relistening(self) -> None:
        self._changed()  # listening again: what was notified meanwhile is lost
