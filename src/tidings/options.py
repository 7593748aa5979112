"""Task options as frozen dataclasses that validate themselves on construction."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta

from tidings.errors import ValidationError


def as_timedelta(value: timedelta | float, what: str) -> timedelta:
    """Accept a timedelta or a number of seconds; reject anything else by name."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{what} must be a timedelta or seconds, not {type(value).__name__}")
    return timedelta(seconds=value)


@dataclass(frozen=True)
class Retry:
    """How a failing run is retried: exponential backoff with jitter, budget per step."""

    max_attempts: int = 3
    """Attempts allowed per step (and for code outside steps), the first included."""
    initial: timedelta = field(default=timedelta(seconds=1))
    """Delay before the first retry."""
    factor: float = 2.0
    """Each further retry waits this many times longer than the previous one."""
    maximum: timedelta = field(default=timedelta(hours=1))
    """Upper bound of any single delay."""
    jitter: bool = True
    """Spread each delay uniformly over [delay / 2, delay] so retries do not stampede."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "initial", as_timedelta(self.initial, "Retry.initial"))
        object.__setattr__(self, "maximum", as_timedelta(self.maximum, "Retry.maximum"))
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise ValidationError("Retry.max_attempts must be an int")
        if self.max_attempts < 1:
            raise ValidationError(f"Retry.max_attempts must be >= 1, got {self.max_attempts}")
        if self.initial < timedelta(0):
            raise ValidationError("Retry.initial must not be negative")
        if self.factor < 1:
            raise ValidationError(f"Retry.factor must be >= 1, got {self.factor}")
        if self.maximum < self.initial:
            raise ValidationError("Retry.maximum must be >= Retry.initial")

    def delay(self, failures: int, rng: random.Random | None = None) -> timedelta:
        """Delay before the retry that follows the ``failures``-th failure (1-based)."""
        if failures < 1:
            raise ValueError("failures must be >= 1")
        base = self.initial.total_seconds() * self.factor ** (failures - 1)
        seconds = min(base, self.maximum.total_seconds())
        if self.jitter:
            seconds = (rng or random).uniform(seconds / 2, seconds)
        return timedelta(seconds=seconds)


NO_RETRY = Retry(max_attempts=1)
