"""Channel providers: one module per service, all behind :class:`Provider`."""

from tidings.providers.base import (
    Channel,
    Message,
    PermanentProviderError,
    Provider,
    ProviderError,
    RetryableProviderError,
    SendResult,
)
from tidings.providers.outbox import Outbox

__all__ = [
    "Channel",
    "Message",
    "Outbox",
    "PermanentProviderError",
    "Provider",
    "ProviderError",
    "RetryableProviderError",
    "SendResult",
]
