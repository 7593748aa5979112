"""How long finished work is kept: :class:`Retention`, and its ``[retention]`` table.

A foundation: it imports nothing of tidings but its errors. The pruning itself (what
each period removes, in bounded batches) is :mod:`tidings.kernel.pruning`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

from tidings.errors import ConfigError

MINIMUM = timedelta(hours=1)
"""The shortest period accepted: anything shorter would race work still in flight."""
DEFAULT_BATCH = 2000
"""Rows deleted per transaction (by default)."""
_UNITS = {"h": 3600, "d": 86_400, "w": 7 * 86_400}
_TEXT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(h|hours?|d|days?|w|weeks?)\s*$", re.IGNORECASE)
_OFF = ("off", "never", "forever", "keep")
PERIODS = ("runs", "events", "deliveries", "outbox", "inbox")


@dataclass(frozen=True)
class Retention:
    """How long each kind of finished record is kept before the built-in ``tidings.prune``
    task deletes it (hourly, in short batches). ``None`` keeps that kind forever.

    Every period is at least one hour. The defaults keep a small product's database
    small while leaving weeks to look into a problem: a run's timeline is rarely
    needed after a month, event bodies after a week (runs keep what they used), outbox
    captures are a development tool, and the delivery log and inbox are what support
    and recipients look back on.
    """

    runs: timedelta | None = timedelta(days=30)
    """Finished runs (completed, failed, cancelled) with their steps and logs, counted
    from when they finished; also closed digests and finished broadcasts."""
    events: timedelta | None = timedelta(days=7)
    """Received events, and provider webhook events already applied."""
    deliveries: timedelta | None = timedelta(days=90)
    """Notifications and their deliveries (the delivery log), none still to be sent."""
    outbox: timedelta | None = timedelta(days=7)
    """Messages captured by the outbox provider."""
    inbox: timedelta | None = timedelta(days=180)
    """In-app inbox items (read or not) and the inbox change feed."""
    batch: int = DEFAULT_BATCH
    """Rows deleted per transaction (100 to 50,000): each transaction is this short."""

    def __post_init__(self) -> None:
        for name in PERIODS:
            object.__setattr__(self, name, _period(getattr(self, name), name))
        batch = self.batch
        if isinstance(batch, bool) or not isinstance(batch, int) or not 100 <= batch <= 50_000:
            raise ConfigError(f"Retention.batch must be an int from 100 to 50000, got {batch!r}")

    @classmethod
    def off(cls) -> Retention:
        """Keep everything forever (pruning disabled)."""
        return cls(runs=None, events=None, deliveries=None, outbox=None, inbox=None)

    @property
    def enabled(self) -> bool:
        """Whether any kind is pruned."""
        return any(getattr(self, name) is not None for name in PERIODS)

    def periods(self) -> dict[str, timedelta | None]:
        """``{kind: period}`` of the five periods."""
        return {name: getattr(self, name) for name in PERIODS}

    def describe(self) -> dict[str, str]:
        """Each period as text (``30 days``, ``kept forever``), for people."""
        return {name: describe(period) for name, period in self.periods().items()}

    @classmethod
    def from_table(cls, table: Mapping[str, Any], where: str = "[retention]") -> Retention:
        """A ``[retention]`` table of tidings.toml: ``runs = "30d"``, ``events = "12h"``,
        ``outbox = "off"``, ``batch = 5000``. Unset keys keep their defaults."""
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where} must be a table")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            names = ", ".join(sorted(known))
            raise ConfigError(f"{where}: unknown keys {', '.join(unknown)} (known keys: {names})")
        values: dict[str, Any] = {}
        for name, raw in table.items():
            if name == "batch":
                values[name] = raw
            else:
                values[name] = parse_period(raw, f"{where} {name}")
        return cls(**values)


def _period(value: object, name: str) -> timedelta | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, timedelta | int | float):
        raise ConfigError(
            f"Retention.{name} must be a timedelta, a number of seconds or None (keep "
            f"forever), got {value!r}"
        )
    period = value if isinstance(value, timedelta) else _seconds(value, name)
    if period < MINIMUM:
        raise ConfigError(
            f"Retention.{name} must be at least one hour (or None to keep forever), got {period}"
        )
    return period


def _seconds(value: float, name: str) -> timedelta:
    try:
        return timedelta(seconds=value)
    except (OverflowError, ValueError):
        raise ConfigError(f"Retention.{name} of {value!r} seconds is out of range") from None


def parse_period(raw: object, what: str) -> timedelta | None:
    """A period as tidings.toml writes it: ``"30d"``, ``"36h"``, ``"2w"``, ``"off"`` (or
    ``false``) to keep forever, or a number of days."""
    if raw is False or (isinstance(raw, str) and raw.strip().lower() in _OFF):
        return None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return _seconds(raw * 86_400, what)
    match = _TEXT.match(raw) if isinstance(raw, str) else None
    if match is None:
        raise ConfigError(
            f'{what} must be a period like "30d", "36h" or "2w" (or "off"), got {raw!r}'
        )
    number, unit = float(match.group(1)), match.group(2)[0].lower()
    return _seconds(number * _UNITS[unit], what)


def describe(period: timedelta | None) -> str:
    """``30 days``, ``36 hours``, ``kept forever``."""
    if period is None:
        return "kept forever"
    seconds = int(period.total_seconds())
    if seconds % 86_400 == 0:
        days = seconds // 86_400
        return f"{days} day" + ("s" if days != 1 else "")
    hours = seconds / 3600
    text = f"{hours:g}"
    return f"{text} hour" + ("s" if hours != 1 else "")


__all__ = ["DEFAULT_BATCH", "MINIMUM", "PERIODS", "Retention", "describe", "parse_period"]
