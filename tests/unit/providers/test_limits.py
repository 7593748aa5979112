"""The in-process send budget: a sliding window dated by when each send ended."""

from __future__ import annotations

import asyncio
import time

import pytest

from tidings.errors import ValidationError
from tidings.providers.limits import LocalRateLimiter, budget_key, per_second, shared_limiter


async def test_never_more_than_limit_in_any_window() -> None:
    limiter = LocalRateLimiter(3, 0.2)
    ends: list[float] = []

    async def send() -> None:
        async with limiter.permit():
            await asyncio.sleep(0.01)
            ends.append(time.monotonic())

    started = time.monotonic()
    await asyncio.gather(*(send() for _ in range(9)))
    assert time.monotonic() - started >= 0.4  # 9 sends, 3 per 0.2 s: two full waits
    ends.sort()
    for i in range(len(ends) - 3):
        assert ends[i + 3] - ends[i] >= 0.2 - 0.005


async def test_a_batch_takes_several_permits_at_once() -> None:
    limiter = LocalRateLimiter(100, 0.2)
    async with limiter.permit(100):
        pass
    started = time.monotonic()
    async with limiter.permit(1):
        pass
    assert time.monotonic() - started >= 0.15
    with pytest.raises(ValidationError, match="101 permits"):
        async with limiter.permit(101):
            pass


def test_per_second_is_exact_and_names_no_secret() -> None:
    half = per_second("resend", "re_secret", 2.5)
    assert half is not None
    assert half.limit == 2
    assert half.period.total_seconds() == pytest.approx(0.8)
    slow = per_second("twilio", "AC1", 0.2)
    assert slow is not None
    assert slow.limit == 1
    assert slow.period.total_seconds() == pytest.approx(5.0)
    assert per_second("expo", None, None) is None
    assert budget_key("expo", None) == "expo:anonymous"
    assert "re_secret" not in half.key
    with pytest.raises(ValidationError):
        per_second("resend", "k", 0)


def test_providers_on_one_account_share_one_limiter() -> None:
    a, b = per_second("resend", "re_same", 5), per_second("resend", "re_same", 5)
    other = per_second("resend", "re_other", 5)
    assert a is not None
    assert b is not None
    assert other is not None
    assert shared_limiter(a) is shared_limiter(b)
    assert shared_limiter(a) is not shared_limiter(other)
