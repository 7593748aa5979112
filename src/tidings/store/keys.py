"""API keys of the HTTP API, stored by their hash."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ApiKeyRecord:
    """An API key as stored: never the key itself, only its hash (kept by the store)."""

    id: str
    environment: str
    name: str
    scope: str
    """``admin`` (everything) or ``publish`` (send events, trigger tasks)."""
    hint: str
    """The first characters of the key, to recognise it in a list."""
    created_at: datetime
    revoked_at: datetime | None = None


class ApiKeys(abc.ABC):
    """``store.keys``: API keys per environment."""

    @abc.abstractmethod
    def create(self, key: ApiKeyRecord, key_hash: str) -> None:
        """Store a new key by its hash."""

    @abc.abstractmethod
    def of_environment(self, environment: str) -> list[ApiKeyRecord]:
        """The keys of one environment, revoked ones included, oldest first."""

    @abc.abstractmethod
    def find(self, key_hash: str) -> ApiKeyRecord | None:
        """The key with this hash, of whatever environment (the caller checks it)."""

    @abc.abstractmethod
    def revoke(self, environment: str, ref: str, now: datetime) -> bool:
        """Revoke the live key of ``environment`` whose id or hint is ``ref``."""
