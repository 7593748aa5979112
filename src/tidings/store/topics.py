"""Topics: which recipients subscribe to which topic (an audience by name)."""

from __future__ import annotations

import abc
import builtins
from collections.abc import Sequence
from datetime import datetime


class Topics(abc.ABC):
    """``store.topics``."""

    @abc.abstractmethod
    def subscribe(
        self, topic: str, recipient_ids: Sequence[str], now: datetime
    ) -> builtins.list[str]:
        """Subscribe every recipient (already subscribed ones stay as they are), in one
        transaction. If any id names no recipient, subscribe none and return those ids."""

    @abc.abstractmethod
    def unsubscribe(self, topic: str, recipient_ids: Sequence[str]) -> int:
        """Remove these subscriptions (absent ones are no error); how many there were."""

    @abc.abstractmethod
    def subscribers(self, topic: str, after: str, limit: int) -> builtins.list[str]:
        """Subscriber ids greater than ``after``, in id order."""

    @abc.abstractmethod
    def of(self, recipient_id: str) -> builtins.list[str]:
        """The topics one recipient subscribes to, by name."""

    @abc.abstractmethod
    def delete(self, topic: str) -> int:
        """Remove every subscription of the topic; how many there were."""

    @abc.abstractmethod
    def count(self, topic: str) -> int: ...

    @abc.abstractmethod
    def list(self, after: str, limit: int) -> builtins.list[tuple[str, int]]:
        """``(topic, subscribers)`` of topics named after ``after``, in name order."""
