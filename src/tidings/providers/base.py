"""What every channel provider implements, and the errors that steer retries and failover.

A provider turns one rendered :class:`Message` into one send. It never decides *whether*
to send (routing, preferences, quiet hours, dedup): the notification router does that and
hands the provider only messages that must go out. A provider reports its outcome by
returning a :class:`SendResult` or raising a :class:`ProviderError` subclass:

- :class:`RetryableProviderError`: the send may succeed later (429, 5xx, timeouts). The
  router retries it with backoff (honouring ``retry_after``) and, past the provider's
  budget, hands the delivery to the channel's next provider.
- :class:`PermanentProviderError`: this message will never be accepted by this provider
  (validation error, invalid number). The delivery fails without retry; the flags say
  whether the address must be suppressed or the push token deactivated.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

from tidings.errors import TidingsError
from tidings.records.notify import Channel as Channel  # what providers are written against
from tidings.records.notify import DeliveryStatus


@dataclass(frozen=True)
class Message:
    """One rendered message for one address, as the router hands it to a provider."""

    delivery_id: str
    """The delivery this send belongs to; stable across retries."""
    idempotency_key: str
    """Stable across retries and failover; providers that support it send it on the wire."""
    channel: Channel
    type_id: str
    """The notification type, e.g. ``"lab-results-ready"``."""
    to: str
    """Email address, push token or E.164 phone number, by channel."""
    locale: str
    subject: str | None = None
    html: str | None = None
    text: str | None = None
    title: str | None = None
    body: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    """Extra data for the device (push) or the provider's metadata."""
    critical: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra headers for email (``List-Unsubscribe``...)."""


@dataclass(frozen=True)
class SendResult:
    """A provider accepted the message."""

    provider_message_id: str | None
    status: DeliveryStatus = DeliveryStatus.SENT
    """``SENT``, or ``DELIVERED`` only when the provider confirms delivery synchronously."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """Anything worth recording on the delivery (an Expo ticket, SMS segments...)."""


@dataclass(frozen=True)
class ProviderRateLimit:
    """The most sends a provider's account accepts, for sharing one budget between workers.

    Each provider also keeps to it within its own process; the router may additionally
    count sends in the store under :attr:`key` so that every worker shares one budget.
    """

    limit: int
    """Sends (messages, not requests) allowed per :attr:`period`."""
    period: timedelta
    """Length of the window."""
    key: str
    """Names the budget: equal for providers sharing one account (``"resend:3f2a..."``).
    Derived from a hash of the credential, never the credential itself."""


class ProviderError(TidingsError):
    """A provider did not accept a message; ``code`` is the provider's own error name."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class RetryableProviderError(ProviderError):
    """The send may succeed later; ``retry_after`` (seconds) is the provider's hint."""

    def __init__(
        self, message: str, *, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class PermanentProviderError(ProviderError):
    """The provider will never accept this message; the delivery fails without retry."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        suppress_address: bool = False,
        deactivate_token: bool = False,
    ) -> None:
        super().__init__(message, code=code)
        self.suppress_address = suppress_address
        self.deactivate_token = deactivate_token


class Provider(ABC):
    """A channel provider. Subclasses are configured by their constructor arguments."""

    name: ClassVar[str]
    """Recorded on every delivery it handles (``"smtp"``, ``"resend"``...)."""
    channels: ClassVar[frozenset[Channel]]
    """The channels this provider can send."""
    max_attempts: int = 5
    """Sends tried with this provider before the delivery fails over to the next one."""
    rate_limit: ProviderRateLimit | None = None
    """The account's send budget, or None when the provider has none worth enforcing."""
    batch_is_one_request: bool = False
    """Whether :meth:`send_batch` makes one request the service counts once against
    ``rate_limit`` (Resend counts requests): a batch run then takes one place of the
    shared budget per batch. Otherwise a rate-limited provider's batch messages are
    sent one by one, each admitted by the budget."""

    @abstractmethod
    async def send(self, message: Message) -> SendResult:
        """Send one message, or raise a :class:`ProviderError`."""

    async def send_batch(self, messages: Sequence[Message]) -> list[SendResult | ProviderError]:
        """Send several messages; one outcome per message, in order.

        Providers with a batch API (Expo) override this; the default sends one by one.
        """
        outcomes: list[SendResult | ProviderError] = []
        for message in messages:
            try:
                outcomes.append(await self.send(message))
            except ProviderError as exc:
                outcomes.append(exc)
        return outcomes

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most providers hold nothing
        """Release connections; called when the app shuts down."""
