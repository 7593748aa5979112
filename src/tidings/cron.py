"""Cron expressions in IANA timezones, with the DST rules of cron daemons.

croniter parses the expression and walks it in local wall-clock time; this module turns
each local tick into an instant. Across DST changes croniter's own aware iteration fires
a local time repeated by fall-back twice, so the mapping is ours:

- a local time skipped by spring-forward fires once, at the first valid instant after
  the gap (the transition itself);
- a local time repeated by fall-back fires once, at its first occurrence;
- two ticks that land on one instant fire once.

A daily schedule therefore runs exactly once per local day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from tidings.errors import ValidationError

CatchUp = Literal["latest", "all", "none"]
CATCH_UP_MODES: tuple[str, ...] = get_args(CatchUp)
_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MAX_STEPS = 10_000
"""Local ticks examined for one next tick (a repeated hour of a per-minute schedule)."""


@dataclass(frozen=True)
class CronSpec:
    """A validated cron schedule: when it fires and what happens after downtime."""

    expression: str
    """Five fields (minute hour day-of-month month day-of-week) or an ``@hourly``-style alias."""
    timezone: str
    """IANA timezone the expression is read in, e.g. ``Europe/Berlin``."""
    catch_up: CatchUp = "latest"
    """After downtime: ``latest`` missed tick only, ``all`` of them in order, or ``none``."""

    def next_after(self, after: datetime) -> datetime:
        """The first tick strictly after the aware instant ``after``, in UTC."""
        tz = ZoneInfo(self.timezone)
        wall = after.astimezone(tz).replace(tzinfo=None)
        ticks = croniter(_expand(self.expression), wall)
        for _ in range(_MAX_STEPS):
            instant = local_instant(cast(datetime, ticks.get_next(datetime)), tz)
            if instant > after:
                return instant
        raise ValidationError(f"cron {self.expression!r} has no tick after {after.isoformat()}")


def parse_cron(
    cron: Any, timezone: Any = "UTC", catch_up: Any = "latest", *, owner: str
) -> CronSpec:
    """Validate the three schedule options; ValidationError names the field and ``owner``."""
    if not isinstance(cron, str) or not cron.strip():
        raise ValidationError(f"cron of {owner} must be a cron expression string, got {cron!r}")
    expression = " ".join(cron.split())
    fields = _expand(expression).split(" ")
    if len(fields) != 5 or not croniter.is_valid(" ".join(fields)):
        raise ValidationError(
            f"cron of {owner} is not a valid cron expression: {cron!r} (use five fields, "
            "minute hour day-of-month month day-of-week, e.g. '0 * * * *', or @hourly, "
            "@daily, @weekly, @monthly, @yearly)"
        )
    zone = parse_timezone(timezone, owner=owner)
    if catch_up not in CATCH_UP_MODES:
        raise ValidationError(
            f"catch_up of {owner} must be one of {', '.join(CATCH_UP_MODES)}, got {catch_up!r}"
        )
    spec = CronSpec(expression, zone, cast(CatchUp, catch_up))
    try:  # an expression that matches no date at all ("0 0 30 2 *") is bad input too
        spec.next_after(datetime(2000, 1, 1, tzinfo=UTC))
    except Exception as exc:
        raise ValidationError(f"cron of {owner} never fires: {cron!r} ({exc})") from None
    return spec


def parse_timezone(timezone: Any, *, owner: str) -> str:
    """Return ``timezone`` if the IANA database knows it, else raise ValidationError."""
    if not isinstance(timezone, str) or not timezone:
        raise ValidationError(f"timezone of {owner} must be an IANA name, got {timezone!r}")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"timezone of {owner} is not a known IANA timezone: {timezone!r} "
            "(e.g. 'UTC', 'Europe/Berlin', 'America/New_York')"
        ) from None
    return timezone


def local_instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant a naive local time fires at, under the DST rules above."""
    first = wall.replace(tzinfo=tz, fold=0)
    second = wall.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first.astimezone(UTC)
    early = first.astimezone(UTC)
    if early.astimezone(tz).replace(tzinfo=None) == wall:
        return early  # repeated by fall-back: its first occurrence
    # Skipped by spring-forward: fold=0 reads it with the offset before the gap (an
    # instant after the transition), fold=1 with the offset after it (one before).
    # The transition lies between them: find it to the second.
    before, after = second.astimezone(UTC), early
    target = second.utcoffset()
    while after - before > timedelta(seconds=1):
        middle = before + (after - before) / 2
        if middle.astimezone(tz).utcoffset() == target:
            after = middle
        else:
            before = middle
    return after.replace(microsecond=0)


def _expand(expression: str) -> str:
    return _ALIASES.get(expression.lower(), expression)
