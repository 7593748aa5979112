"""Recipients: profiles, push tokens, preferences, suppressed addresses, and what routing
reads about a recipient."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tidings.records.notify import Preference, PreferenceChange, PushToken, Recipient

GLOBAL_TYPE = "*"
"""The type id under which a channel's global preference is stored."""


@dataclass(frozen=True)
class RecipientRow:
    id: str
    email: str | None
    phone: str | None
    locale: str | None
    timezone: str
    quiet_hours: tuple[str, str] | None
    data: str
    """JSON text."""
    given: frozenset[str] = frozenset()
    """The fields the caller set; an update keeps the others as stored."""


@dataclass(frozen=True)
class ChangeNote:
    """Who changed a recipient's preferences and from where (kept in the change log)."""

    id: str
    actor: str
    origin: str | None
    change: str
    """JSON text: what changed."""


@dataclass(frozen=True)
class RoutingInputs:
    """Everything routing reads about a recipient, read in one transaction."""

    recipient: Recipient
    tokens: list[str]
    """Active push tokens, newest first."""
    preferences: dict[tuple[str, str], bool]
    """``(type id or '*', channel) -> enabled``."""
    suppressed: set[tuple[str, str]]
    """``(channel, address)`` pairs among this recipient's addresses that are suppressed."""


class Recipients(abc.ABC):
    """``store.recipients``."""

    @abc.abstractmethod
    def upsert(self, row: RecipientRow, now: datetime) -> Recipient: ...

    @abc.abstractmethod
    def get(self, recipient_id: str) -> Recipient | None: ...

    @abc.abstractmethod
    def delete(self, recipient_id: str) -> bool:
        """Delete the profile, tokens, preferences, topic subscriptions and inbox (the
        delivery log stays)."""

    @abc.abstractmethod
    def add_push_token(
        self,
        recipient_id: str,
        token: str,
        platform: str | None,
        device_name: str | None,
        now: datetime,
    ) -> PushToken | None:
        """Register (or move) a token; None if the recipient does not exist."""

    @abc.abstractmethod
    def push_tokens(self, recipient_id: str, active_only: bool) -> list[PushToken]: ...

    @abc.abstractmethod
    def deactivate_push_token(self, token: str, now: datetime) -> bool: ...

    @abc.abstractmethod
    def set_preference(
        self,
        recipient_id: str,
        type_id: str,
        channel: str,
        enabled: bool,
        now: datetime,
        note: ChangeNote | None = None,
    ) -> bool:
        """False if the recipient does not exist. ``note`` is logged in the same
        transaction."""

    @abc.abstractmethod
    def note_change(self, recipient_id: str, note: ChangeNote, now: datetime) -> bool:
        """Log a change of the recipient's settings; False if there is no such recipient."""

    @abc.abstractmethod
    def preference_changes(self, recipient_id: str, limit: int) -> list[PreferenceChange]:
        """The recipient's logged changes, newest first."""

    @abc.abstractmethod
    def preferences(self, recipient_id: str) -> list[Preference]: ...

    @abc.abstractmethod
    def suppress(self, channel: str, address: str, reason: str, now: datetime) -> None: ...

    @abc.abstractmethod
    def unsuppress(self, channel: str, address: str) -> bool: ...

    @abc.abstractmethod
    def is_suppressed(self, channel: str, address: str) -> bool: ...

    @abc.abstractmethod
    def routing_inputs(self, recipient_id: str) -> RoutingInputs | None: ...

    @abc.abstractmethod
    def missing(self, recipient_ids: Sequence[str]) -> list[str]:
        """The ids among ``recipient_ids`` that name no recipient, sorted."""

    @abc.abstractmethod
    def routing_inputs_many(self, recipient_ids: Sequence[str]) -> dict[str, RoutingInputs]:
        """Routing inputs of every existing recipient among ``recipient_ids``, read in
        one transaction with one statement per table."""
