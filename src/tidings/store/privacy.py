"""Erase and export: everything the database holds about one recipient.

``export`` reads it in one transaction; ``erase`` removes or anonymises it in one write
transaction and records the audit row (no personal data) and the erased marker. What
happens to each table is decided in :mod:`tidings.store.db.privacy` and documented in
docs/operations/privacy.md.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tidings.records.notify import Erasure

ERASED_PREFIX = "erased:"
"""Opaque markers put where the recipient was: ``erased:<erasure id>``."""


@dataclass(frozen=True)
class Subject:
    """Whom to export or erase, and how to recognise them."""

    recipient_id: str
    key_path: tuple[str, ...] | None
    """The app's ``recipient_key`` split on dots: the runs, events and schedules whose
    payload holds the recipient id there are theirs. None: only runs that notified them."""
    delivery_key_prefix: str
    """Idempotency key of the run sending one delivery: this prefix and the delivery id."""
    batch_task: str
    """The task whose runs send a batch of deliveries (``payload["delivery_ids"]``)."""


@dataclass(frozen=True)
class NewErasure:
    id: str
    digest: str
    """SHA-256 of the recipient id (the erased marker)."""
    actor: str


class Privacy(abc.ABC):
    """``store.privacy``."""

    @abc.abstractmethod
    def export(self, subject: Subject) -> dict[str, Any] | None:
        """Every row naming the recipient, by table (JSON-ready: times as ISO text, JSON
        columns parsed); None if nothing names them."""

    @abc.abstractmethod
    def erase(self, subject: Subject, erasure: NewErasure, now: datetime) -> Erasure | None:
        """Remove or anonymise every row naming the recipient and record the erasure;
        None (and nothing changed) if nothing names them."""

    @abc.abstractmethod
    def erased(self, digest: str) -> str | None:
        """The id of the erasure that erased the recipient with this digest, if any."""

    @abc.abstractmethod
    def erasure(self, erasure_id: str) -> Erasure | None: ...

    @abc.abstractmethod
    def erasures(self, limit: int) -> list[Erasure]:
        """The audit, newest first."""
