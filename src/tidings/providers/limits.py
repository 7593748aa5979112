"""A provider's send budget within one process.

Every provider instance that talks to one account (one API key, one Expo project) shares
one :class:`LocalRateLimiter`, found by the budget's key, so two ``Resend`` objects
built with the same key still keep to the account's limit together. Sharing the budget
across worker *processes* is the router's business (it counts sends in the store under
:attr:`ProviderRateLimit.key`); this module only keeps one process from bursting.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

from tidings.errors import ValidationError
from tidings.providers.base import ProviderRateLimit


class _Stamp:
    __slots__ = ("at",)

    def __init__(self, at: float) -> None:
        self.at = at


class LocalRateLimiter:
    """At most ``limit`` sends in any window of ``period`` seconds (a sliding log).

    ``async with limiter.permit(n):`` waits until ``n`` sends fit, and dates them at the
    end of the block: a service counts a request when it *arrives*, which is somewhere
    between the two, so dating by the end never lets a slow first request (a new
    connection) squeeze one request too many into the service's window. Waiters are
    served in arrival order so a large batch cannot be starved by small sends.
    """

    def __init__(
        self,
        limit: int,
        period: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or period <= 0:
            raise ValidationError(
                f"a rate limit needs limit >= 1 and period > 0, got {limit} per {period}s"
            )
        self.limit = limit
        self.period = period
        self._clock = clock
        self._stamps: list[_Stamp] = []
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def permit(self, permits: int = 1) -> AsyncIterator[None]:
        """Hold ``permits`` sends for the duration of the block."""
        stamps = await self._take(permits)
        try:
            yield
        finally:
            end = self._clock()
            for stamp in stamps:
                stamp.at = max(stamp.at, end)

    async def _take(self, permits: int) -> list[_Stamp]:
        if permits > self.limit:
            raise ValidationError(
                f"cannot take {permits} permits at once from a limit of {self.limit}"
            )
        async with self._lock:  # FIFO: asyncio.Lock wakes waiters in order
            while True:
                now = self._clock()
                self._stamps = [s for s in self._stamps if s.at > now - self.period]
                if len(self._stamps) + permits <= self.limit:
                    taken = [_Stamp(now) for _ in range(permits)]
                    self._stamps.extend(taken)
                    return taken
                times = sorted(s.at for s in self._stamps)
                # The stamp that must leave the window before ``permits`` more fit.
                oldest = times[len(times) + permits - self.limit - 1]
                await asyncio.sleep(max(oldest + self.period - now, 0.001))


_SHARED: dict[str, LocalRateLimiter] = {}


def shared_limiter(rate: ProviderRateLimit) -> LocalRateLimiter:
    """The process-wide limiter of the budget ``rate.key`` (created on first use)."""
    found = _SHARED.get(rate.key)
    period = rate.period.total_seconds()
    if found is None or found.limit != rate.limit or found.period != period:
        found = LocalRateLimiter(rate.limit, period)
        _SHARED[rate.key] = found
    return found


def budget_key(provider: str, credential: str | None) -> str:
    """A stable, non-secret name for the account behind ``credential``."""
    if not credential:
        return f"{provider}:anonymous"
    digest = hashlib.sha256(credential.encode("utf-8")).hexdigest()[:16]
    return f"{provider}:{digest}"


def per_second(
    provider: str, credential: str | None, rate: float | None
) -> ProviderRateLimit | None:
    """``rate`` sends per second as a :class:`ProviderRateLimit` (None: unlimited)."""
    if rate is None:
        return None
    if rate <= 0:
        raise ValidationError(f"{provider} rate_limit must be > 0 sends per second or None")
    # Whole permits per window and an exact rate: 2.5/s is 2 per 0.8 s, 0.2/s is 1 per 5 s.
    limit = max(int(rate), 1)
    return ProviderRateLimit(
        limit=limit, period=timedelta(seconds=limit / rate), key=budget_key(provider, credential)
    )
