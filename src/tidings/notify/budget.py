"""Provider rate limits shared by every worker, through the store.

Each provider keeps to its ``rate_limit`` within one process (:mod:`tidings.providers.
limits`); this module makes every worker process on the database share that budget: the
delivery task asks the store to *admit* each send of a rate-limited provider just before
making it, and records when the send ended. See :mod:`tidings.store.budgets` for the
counting rule (it never lets the service see more than ``limit`` requests in any window
of ``period``).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from tidings.ids import new_id
from tidings.kernel import Kernel
from tidings.providers.base import Provider

MIN_HOLD = timedelta(seconds=60)
log = logging.getLogger("tidings.notify")


def in_flight_hold(provider: Provider) -> timedelta:
    """How long an admitted send whose end was never recorded (its worker died) holds its
    place: well past the provider's own request timeout."""
    timeout = getattr(provider, "timeout", None)
    if isinstance(timeout, int | float) and timeout > 0:
        return max(MIN_HOLD, timedelta(seconds=4 * timeout))
    return MIN_HOLD


async def admit(kernel: Kernel, provider: Provider) -> str | datetime | None:
    """Admit one send through ``provider``.

    Returns:
        None when the provider has no rate limit; the send's
        id when admitted (pass it to :func:`finish`); or the time to ask again when the
        budget is full.
    """
    rate, store = provider.rate_limit, kernel.store
    if rate is None:
        return None
    send_id = new_id("snd")
    now = kernel.clock.now()
    retry_at = await asyncio.to_thread(
        store.budgets.admit,
        rate.key, rate.limit, rate.period, send_id, now + in_flight_hold(provider), now,
    )  # fmt: skip
    return send_id if retry_at is None else retry_at


async def finish(kernel: Kernel, provider: Provider, send_id: str) -> None:
    """Record that the admitted send ``send_id`` has ended (its request is answered)."""
    rate, store = provider.rate_limit, kernel.store
    if rate is None:
        return
    try:
        await asyncio.to_thread(store.budgets.finish, rate.key, send_id, kernel.clock.now())
    except Exception as exc:
        # The send itself is done: failing its step now would send it again. Unrecorded,
        # its place is held until the in-flight hold runs out, which only slows sends.
        log.warning("could not record the end of send %s under %s: %s", send_id, rate.key, exc)
