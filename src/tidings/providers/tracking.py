"""Applying a verified provider webhook to the delivery log.

The HTTP endpoint verifies and parses the request with :mod:`tidings.providers.webhooks`
and hands the :class:`DeliveryUpdate` here. Each event is applied once per event id (a
replay changes nothing), in one transaction: the delivery's status moves forward only
(``sent`` → ``delivered``, ``delivered`` → ``bounced``..., never back), the event is
appended to its history, and a hard bounce, complaint or STOP suppresses the address.
An event for a message no delivery knows is accepted and logged: answering an error
would only make the provider retry it for days.
"""

from __future__ import annotations

import asyncio
import logging

from tidings.kernel import Kernel
from tidings.providers.webhooks import DeliveryUpdate
from tidings.store.receipts import TrackedEvent, TrackResult

log = logging.getLogger("tidings.providers")


async def apply_update(kernel: Kernel, update: DeliveryUpdate) -> TrackResult:
    """Record ``update`` on its delivery; see the module docstring for the rules."""
    store = kernel.store
    event = TrackedEvent(
        provider=update.provider,
        provider_message_id=update.provider_message_id,
        status=update.status,
        event=update.event,
        event_id=update.event_id,
        error=update.error,
        suppress_address=update.suppress_address,
        address=update.address,
    )
    result = await asyncio.to_thread(store.receipts.track, event, kernel.clock.now())
    if result.outcome == "unknown":
        log.info(
            "%s webhook %s for message %s matches no delivery; accepted and ignored",
            update.provider, update.event, update.provider_message_id,
        )  # fmt: skip
    return result
