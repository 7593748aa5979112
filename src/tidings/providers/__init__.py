"""Channel providers: one module per service, all behind :class:`Provider`.

``Smtp`` and ``Resend`` send email, ``Expo`` push and ``Twilio`` SMS; each takes its
settings as constructor arguments (every base URL overridable), or build them all from
``tidings.toml`` with :func:`providers_from_config`. Webhook verification and parsing
live in :mod:`tidings.providers.webhooks`.
"""

from tidings.providers.base import (
    Channel,
    Message,
    PermanentProviderError,
    Provider,
    ProviderError,
    ProviderRateLimit,
    RetryableProviderError,
    SendResult,
)
from tidings.providers.config import providers_from_config
from tidings.providers.expo import Expo, Receipt
from tidings.providers.outbox import Outbox
from tidings.providers.resend import Resend
from tidings.providers.smtp import Smtp
from tidings.providers.twilio import Twilio
from tidings.providers.webhooks import DeliveryUpdate, WebhookSignatureError

__all__ = [
    "Channel",
    "DeliveryUpdate",
    "Expo",
    "Message",
    "Outbox",
    "PermanentProviderError",
    "Provider",
    "ProviderError",
    "ProviderRateLimit",
    "Receipt",
    "Resend",
    "RetryableProviderError",
    "SendResult",
    "Smtp",
    "Twilio",
    "WebhookSignatureError",
    "providers_from_config",
]
