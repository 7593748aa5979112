"""Task options as frozen dataclasses that validate themselves on construction."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Union

import pydantic

from tidings.errors import UnknownRecipientError, ValidationError

KeySpec = Union[str, Callable[[Any], str]]  # noqa: UP007 - a runtime alias
"""A dotted path into the payload (``"customer.id"``) or ``callable(payload) -> str``."""


def check_key_spec(spec: object, what: str) -> KeySpec | None:
    """``spec`` if it is a usable key (a dotted path or a callable), else ValidationError."""
    if spec is None or callable(spec):
        return spec
    if not isinstance(spec, str) or not spec or any(not p for p in spec.split(".")):
        raise ValidationError(
            f"{what} must be a dotted path into the payload like 'customer.id' or a "
            f"callable(payload) -> str, got {spec!r}"
        )
    return spec


def as_timedelta(value: timedelta | float, what: str) -> timedelta:
    """Accept a timedelta or a number of seconds; reject anything else by name."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{what} must be a timedelta or seconds, not {type(value).__name__}")
    try:
        return timedelta(seconds=value)
    except (OverflowError, ValueError):  # NaN, infinity or past timedelta's range
        raise ValidationError(f"{what} of {value!r} seconds is out of range") from None


@dataclass(frozen=True, init=False)
class Retry:
    """How a failing run is retried: exponential backoff with jitter, budget per step.

    Durations are timedeltas or numbers of seconds. An exception that is an instance of
    one of ``non_retriable`` fails the run at once, as ``NonRetriableError`` always does.
    """

    DEFAULT_NON_RETRIABLE: ClassVar[tuple[type[BaseException], ...]] = (
        pydantic.ValidationError,
        ValidationError,
        UnknownRecipientError,
        NameError,
        ImportError,
    )
    """Errors no retry can fix: a payload or value that fails validation (pydantic's or
    tidings' ValidationError), a notification to a recipient that does not exist, and
    code that cannot run (NameError, ImportError: a typo or a missing module)."""

    max_attempts: int
    """Attempts allowed per step (and for code outside steps), the first included."""
    initial: timedelta
    """Delay before the first retry."""
    factor: float
    """Each further retry waits this many times longer than the previous one."""
    maximum: timedelta
    """Upper bound of any single delay."""
    jitter: bool
    """Spread each delay uniformly over [delay / 2, delay] so retries do not stampede."""
    non_retriable: tuple[type[BaseException], ...]
    """Exception classes that fail the run at once, without a retry (subclasses
    included); default ``Retry.DEFAULT_NON_RETRIABLE``, ``()`` retries everything."""

    def __init__(
        self,
        max_attempts: int = 3,
        initial: timedelta | float = timedelta(seconds=1),
        factor: float = 2.0,
        maximum: timedelta | float = timedelta(hours=1),
        jitter: bool = True,
        non_retriable: tuple[type[BaseException], ...] | None = None,
    ) -> None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int):
            raise ValidationError("Retry.max_attempts must be an int")
        if max_attempts < 1:
            raise ValidationError(f"Retry.max_attempts must be >= 1, got {max_attempts}")
        start = as_timedelta(initial, "Retry.initial")
        cap = as_timedelta(maximum, "Retry.maximum")
        if start < timedelta(0):
            raise ValidationError("Retry.initial must not be negative")
        if isinstance(factor, bool) or not isinstance(factor, int | float) or factor < 1:
            raise ValidationError(f"Retry.factor must be >= 1, got {factor!r}")
        if cap < start:
            raise ValidationError("Retry.maximum must be >= Retry.initial")
        never = self.DEFAULT_NON_RETRIABLE if non_retriable is None else non_retriable
        if isinstance(never, type):
            never = (never,)
        if not isinstance(never, tuple | list) or not all(
            isinstance(c, type) and issubclass(c, BaseException) for c in never
        ):
            raise ValidationError(
                f"Retry.non_retriable must be a tuple of exception classes, got {never!r}"
            )
        for name, value in [
            ("max_attempts", max_attempts),
            ("initial", start),
            ("factor", float(factor)),
            ("maximum", cap),
            ("jitter", bool(jitter)),
            ("non_retriable", tuple(never)),
        ]:
            object.__setattr__(self, name, value)

    def retriable(self, exc: BaseException) -> bool:
        """Whether a retry may fix ``exc`` (it is none of ``non_retriable``)."""
        return not isinstance(exc, self.non_retriable)

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


@dataclass(frozen=True, init=False)
class CancelOn:
    """Cancel a queued or waiting run of the task when a matching event arrives."""

    event: str
    """The event name."""
    match: dict[str, str]
    """``{event_path: payload_path}``: the event's value at each dotted path must equal
    the run payload's value at the paired path."""

    def __init__(self, event: str, match: dict[str, str] | None = None) -> None:
        from tidings.matching import check_path

        if not isinstance(event, str) or not event.strip():
            raise ValidationError(f"CancelOn.event must be an event name, got {event!r}")
        pairs = dict(match or {})
        if not pairs:
            raise ValidationError(
                f"CancelOn({event!r}) needs match={{event_path: payload_path}}: without it "
                "one event would cancel every run of the task"
            )
        for event_path, payload_path in pairs.items():
            check_path(event_path, f"CancelOn({event!r}) event path")
            check_path(payload_path, f"CancelOn({event!r}) payload path")
        object.__setattr__(self, "event", event)
        object.__setattr__(self, "match", pairs)

    @property
    def event_paths(self) -> list[str]:
        return sorted(self.match)

    @property
    def payload_paths(self) -> list[str]:
        return [self.match[p] for p in self.event_paths]


@dataclass(frozen=True, init=False)
class RateLimit:
    """At most ``limit`` starts of a task's runs in any window of length ``period``.

    A start is a run's first claim: resuming after a sleep or wait, and retries, do
    not count. A run over the limit is delayed (it stays queued), never dropped.
    """

    limit: int
    """Starts allowed per window."""
    period: timedelta
    """Length of the sliding window (a timedelta or seconds)."""
    key: str | Callable[[Any], str] | None
    """What the limit applies per: a dotted path into the payload or
    ``callable(payload) -> str``; None: the whole task."""

    def __init__(
        self,
        limit: int,
        period: timedelta | float,
        key: str | Callable[[Any], str] | None = None,
    ) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValidationError(f"RateLimit.limit must be an int >= 1, got {limit!r}")
        window = as_timedelta(period, "RateLimit.period")
        if window <= timedelta(0):
            raise ValidationError(f"RateLimit.period must be positive, got {window}")
        object.__setattr__(self, "limit", limit)
        object.__setattr__(self, "period", window)
        object.__setattr__(self, "key", check_key_spec(key, "RateLimit.key"))


KEEP_CHOICES = ("first", "last", "all")
ON_CONFLICT_CHOICES = ("skip", "cancel")


def _positive(value: timedelta | float, what: str) -> timedelta:
    span = as_timedelta(value, what)
    if span <= timedelta(0):
        raise ValidationError(f"{what} must be positive, got {span}")
    return span


@dataclass(frozen=True, init=False)
class Debounce:
    """Coalesce a burst of triggers of one key into one run.

    Triggers (and events) of the same key within ``period`` of the previous one join one
    run, which starts ``period`` after the last of them, or ``max_wait`` after the
    first, whichever is earlier.
    """

    period: timedelta
    """Quiet time after the last trigger before the run starts (a timedelta or seconds)."""
    key: str | Callable[[Any], str] | None
    """What triggers coalesce per: a dotted path into the payload or
    ``callable(payload) -> str``; None: the whole task."""
    max_wait: timedelta | None
    """Start at the latest this long after the first trigger; None: no bound."""
    keep: str
    """The payload the run gets: the ``"first"``, the ``"last"``, or ``"all"`` (a list of
    every coalesced payload, oldest first)."""

    def __init__(
        self,
        period: timedelta | float,
        key: str | Callable[[Any], str] | None = None,
        max_wait: timedelta | float | None = None,
        keep: str = "last",
    ) -> None:
        span = _positive(period, "Debounce.period")
        bound = None if max_wait is None else _positive(max_wait, "Debounce.max_wait")
        if bound is not None and bound < span:
            raise ValidationError(
                f"Debounce.max_wait ({bound}) must be at least Debounce.period ({span})"
            )
        if keep not in KEEP_CHOICES:
            raise ValidationError(
                f"Debounce.keep must be one of {', '.join(map(repr, KEEP_CHOICES))}, got {keep!r}"
            )
        object.__setattr__(self, "period", span)
        object.__setattr__(self, "key", check_key_spec(key, "Debounce.key"))
        object.__setattr__(self, "max_wait", bound)
        object.__setattr__(self, "keep", keep)


@dataclass(frozen=True, init=False)
class Singleton:
    """At most one active (queued, running or waiting) run of a task per key."""

    key: str | Callable[[Any], str] | None
    """What the one-run rule applies per: a dotted path into the payload or
    ``callable(payload) -> str``; None: the whole task."""
    on_conflict: str
    """A trigger while a run of its key is active: ``"skip"`` returns that run (no new
    one); ``"cancel"`` cancels it (interrupting a running attempt) and starts anew."""

    def __init__(
        self, key: str | Callable[[Any], str] | None = None, on_conflict: str = "skip"
    ) -> None:
        if on_conflict not in ON_CONFLICT_CHOICES:
            raise ValidationError(
                "Singleton.on_conflict must be one of "
                f"{', '.join(map(repr, ON_CONFLICT_CHOICES))}, got {on_conflict!r}"
            )
        object.__setattr__(self, "key", check_key_spec(key, "Singleton.key"))
        object.__setattr__(self, "on_conflict", on_conflict)


@dataclass(frozen=True, init=False)
class Batch:
    """Gather triggers of one key into one run that gets the list of their payloads."""

    max_size: int
    """Start the run as soon as this many payloads are gathered."""
    timeout: timedelta
    """Start it at the latest this long after the first trigger (a timedelta or seconds)."""
    key: str | Callable[[Any], str] | None
    """What triggers are gathered per: a dotted path into the payload or
    ``callable(payload) -> str``; None: the whole task."""

    def __init__(
        self,
        max_size: int,
        timeout: timedelta | float,
        key: str | Callable[[Any], str] | None = None,
    ) -> None:
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
            raise ValidationError(f"Batch.max_size must be an int >= 1, got {max_size!r}")
        object.__setattr__(self, "max_size", max_size)
        object.__setattr__(self, "timeout", _positive(timeout, "Batch.timeout"))
        object.__setattr__(self, "key", check_key_spec(key, "Batch.key"))


@dataclass(frozen=True)
class TriggerRequest:
    """One run to start in ``Tidings.trigger_batch`` (the options of ``trigger``)."""

    task: str
    """The task id."""
    payload: Any = None
    """JSON payload of the run."""
    idempotency_key: str | None = None
    """A key already live for the task returns the run holding it."""
    delay: timedelta | float | None = None
    """Start after this long (seconds or a timedelta)."""
    run_at: datetime | None = None
    """Start at this aware time (instead of ``delay``)."""
    priority: int | None = None
    """Higher runs first among runs due together; default the task's."""
    tags: tuple[str, ...] = ()
    """Labels to find the run by."""
    concurrency_key: str | None = None
    """Replaces the key the task's ``concurrency_key`` would compute."""


_ACTION = re.compile(r"[a-z][a-z0-9_-]{0,39}")


def check_actions(actions: object) -> tuple[str, ...]:
    """The action names of ``ctx.ask``: a non-empty list of distinct names."""
    if isinstance(actions, str) or not isinstance(actions, Sequence):
        raise ValidationError(
            f"ctx.ask actions must be a list of action names like ('accept', 'decline'), "
            f"got {actions!r}"
        )
    names: tuple[object, ...] = tuple(actions)
    if not names:
        raise ValidationError("ctx.ask needs at least one action, got actions=()")
    for name in names:
        if not isinstance(name, str) or not _ACTION.fullmatch(name):
            raise ValidationError(
                f"ctx.ask action {name!r} is not a valid name: lowercase letters, digits, "
                "'-' and '_', starting with a letter, at most 40 characters"
            )
    checked = tuple(str(n) for n in names)
    if len(set(checked)) != len(checked):
        twice = sorted({n for n in checked if checked.count(n) > 1})
        raise ValidationError(f"ctx.ask actions must be distinct; repeated: {', '.join(twice)}")
    return checked
