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

__all__ = [
    "Channel",
    "Message",
    "PermanentProviderError",
    "Provider",
    "ProviderError",
    "RetryableProviderError",
    "SendResult",
]
