from __future__ import annotations

import random
from datetime import timedelta

import pytest

from tidings import Retry
from tidings.errors import ValidationError


def test_backoff_is_exponential_and_capped() -> None:
    retry = Retry(
        initial=timedelta(seconds=1), factor=2, maximum=timedelta(seconds=5), jitter=False
    )
    assert [retry.delay(n).total_seconds() for n in range(1, 6)] == [1, 2, 4, 5, 5]


@pytest.mark.parametrize("failures", [1, 2, 3, 8])
def test_jitter_stays_within_half_to_full_delay(failures: int) -> None:
    retry = Retry(initial=timedelta(seconds=2), factor=3, maximum=timedelta(seconds=100))
    full = min(2 * 3 ** (failures - 1), 100)
    rng = random.Random(7)
    samples = [retry.delay(failures, rng).total_seconds() for _ in range(2000)]
    assert min(samples) >= full / 2
    assert max(samples) <= full
    # spread over the whole band, not a constant
    assert max(samples) - min(samples) > full * 0.4


def test_numbers_are_seconds() -> None:
    assert Retry(initial=0.5, maximum=10).initial == timedelta(seconds=0.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_attempts": 0}, "max_attempts must be >= 1"),
        ({"factor": 0.5}, "factor must be >= 1"),
        ({"initial": 10, "maximum": 1}, "maximum must be >= Retry.initial"),
        ({"initial": "soon"}, "Retry.initial must be a timedelta or seconds"),
        ({"max_attempts": 2.5}, "max_attempts must be an int"),
    ],
)
def test_invalid_options_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Retry(**kwargs)  # type: ignore[arg-type]
