"""Alert rules: ``Alert`` and ``Webhook``, checked on construction.

``Tidings(..., alerts=[Alert(on="run.failed", to="ops-oncall")])``. Each rule names a
condition, where to send it (an operator recipient of this app, or a :class:`Webhook`)
and how often at most (``every``). The rules are evaluated by the built-in
``tidings.alerts`` task (see :mod:`tidings.notify.alerts`); this module only describes
and validates them, so it imports nothing of tidings but its errors.

Conditions and their parameters (any other parameter given is a ConfigError):

- ``run.failed``: a run failed. ``tasks``: only runs of these task ids (default: any).
- ``deliveries.failing``: the share of a provider's finished deliveries that failed,
  over ``window`` (default 15 minutes), is above ``threshold`` (default 0.2).
  ``provider``: only this provider (default: each provider on its own).
- ``timers.late``: the 99th percentile of timer lateness (how late a sleep end, a
  scheduled run or a retry started after its due time) over ``window`` (default 15
  minutes) is above ``threshold`` (a duration, default 30 seconds).
- ``queue.backlog``: a run has been due and not started for longer than ``threshold``
  (a duration, default 5 minutes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from tidings.errors import ConfigError

RUN_FAILED = "run.failed"
DELIVERIES_FAILING = "deliveries.failing"
TIMERS_LATE = "timers.late"
QUEUE_BACKLOG = "queue.backlog"
CONDITIONS = (RUN_FAILED, DELIVERIES_FAILING, TIMERS_LATE, QUEUE_BACKLOG)

DEFAULT_EVERY = timedelta(minutes=15)
DEFAULT_WINDOW = timedelta(minutes=15)
DEFAULT_FAILURE_RATE = 0.2
DEFAULT_LATENESS = timedelta(seconds=30)
DEFAULT_BACKLOG = timedelta(minutes=5)
MIN_EVERY = timedelta(minutes=1)
"""The alert task runs once a minute: a shorter ``every`` could not be honoured."""
LATENESS_KEEP = timedelta(days=1)
"""Timer lateness samples are kept per minute for a day, then folded into the totals."""
MAX_WINDOW = LATENESS_KEEP
"""The longest ``window`` a rule may look back over (the per-minute samples kept)."""

# Which optional parameters each condition takes (the others must stay unset).
_TAKES: dict[str, frozenset[str]] = {
    RUN_FAILED: frozenset({"tasks"}),
    DELIVERIES_FAILING: frozenset({"threshold", "window", "provider"}),
    TIMERS_LATE: frozenset({"threshold", "window"}),
    QUEUE_BACKLOG: frozenset({"threshold"}),
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")


@dataclass(frozen=True)
class Webhook:
    """An HTTPS endpoint that receives alerts as JSON, signed like Svix (Standard Webhooks).

    Each POST carries ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature:
    v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` under the base64 key after
    ``whsec_``; the body has a ``text`` field, so a Slack incoming webhook URL works as is.
    """

    url: str
    """Where to POST (``https://``; ``http://`` is accepted for local endpoints)."""
    secret: str = field(repr=False)
    """``whsec_<base64 key>``: the receiver verifies the signature with it."""
    timeout: float = 10.0
    """Seconds to wait for the endpoint before the attempt counts as failed."""

    def __post_init__(self) -> None:
        parts = urlsplit(self.url) if isinstance(self.url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"Webhook url must be an http(s) URL, got {self.url!r}")
        webhook_key(self.secret)
        if (
            isinstance(self.timeout, bool)
            or not isinstance(self.timeout, int | float)
            or not 0 < self.timeout <= 60
        ):
            raise ConfigError(f"Webhook timeout must be 0 to 60 seconds, got {self.timeout!r}")

    def __repr__(self) -> str:  # the URL may hold a token (Slack's does): host only
        return f"Webhook({urlsplit(self.url).hostname!r})"


def webhook_key(secret: object) -> bytes:
    """The HMAC key of a ``whsec_...`` secret; ConfigError if it is not one."""
    if not isinstance(secret, str) or not secret.startswith("whsec_"):
        raise ConfigError("Webhook secret must be a 'whsec_<base64>' string")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("Webhook secret must be 'whsec_' followed by base64") from None
    if len(key) < 16:
        raise ConfigError("Webhook secret must hold at least 16 bytes of key (24+ base64)")
    return key


@dataclass(frozen=True)
class Alert:
    """Tell an operator when ``on`` happens, at most once per ``every``.

    Args:
        on: the condition: ``run.failed``, ``deliveries.failing``, ``timers.late`` or
            ``queue.backlog`` (see :mod:`tidings.alerting`).
        to: an operator recipient id (sent through the built-in ``tidings.alert``
            notification type: email and in-app) or a :class:`Webhook`.
        every: at most one alert of this rule per window of this length (>= 1 minute).
        tasks: ``run.failed`` only: the task ids to watch (default: every task).
        threshold: ``deliveries.failing``: a failure rate in (0, 1]; ``timers.late``
            and ``queue.backlog``: a duration (timedelta or seconds).
        window: ``deliveries.failing`` and ``timers.late``: how far back to look.
        provider: ``deliveries.failing`` only: the provider name to watch.
        name: identifies the rule's state in the database (default: derived from the
            condition and its parameters); give one to keep the state across changes.
    """

    on: str
    to: str | Webhook
    every: timedelta | float = DEFAULT_EVERY
    tasks: Sequence[str] | None = None
    threshold: float | timedelta | None = None
    window: timedelta | float | None = None
    provider: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.on not in CONDITIONS:
            raise ConfigError(
                f"unknown alert condition {self.on!r}; use one of {', '.join(CONDITIONS)}"
            )
        what = f"Alert(on={self.on!r})"
        given = {
            p for p in ("tasks", "threshold", "window", "provider") if getattr(self, p) is not None
        }
        if extra := sorted(given - _TAKES[self.on]):
            takes = ", ".join(sorted(_TAKES[self.on])) or "no parameters"
            raise ConfigError(f"{what} does not take {', '.join(extra)} (it takes {takes})")
        if isinstance(self.to, str):
            if not self.to.strip() or len(self.to) > 255:
                raise ConfigError(f"{what}: to must be a recipient id or a Webhook")
        elif not isinstance(self.to, Webhook):
            raise ConfigError(
                f"{what}: to must be a recipient id or a Webhook, not {type(self.to).__name__}"
            )
        every = _duration(self.every, f"{what} every")
        if every < MIN_EVERY:
            raise ConfigError(f"{what}: every must be at least 1 minute, got {every}")
        object.__setattr__(self, "every", every)
        self._check_parameters(what)
        if self.name is not None and (not isinstance(self.name, str) or not _NAME.match(self.name)):
            raise ConfigError(
                f"{what}: name must be 1 to 100 letters, digits or '_.:-', got {self.name!r}"
            )

    def _check_parameters(self, what: str) -> None:
        if self.tasks is not None:
            if isinstance(self.tasks, str) or not all(isinstance(t, str) and t for t in self.tasks):
                raise ConfigError(f"{what}: tasks must be a list of task ids")
            if not self.tasks:
                raise ConfigError(f"{what}: tasks must not be empty (None watches every task)")
            object.__setattr__(self, "tasks", tuple(self.tasks))
        if self.provider is not None and (not isinstance(self.provider, str) or not self.provider):
            raise ConfigError(f"{what}: provider must be a provider name")
        if self.on in (DELIVERIES_FAILING, TIMERS_LATE):
            window = _duration(
                DEFAULT_WINDOW if self.window is None else self.window, f"{what} window"
            )
            if not MIN_EVERY <= window <= MAX_WINDOW:
                raise ConfigError(f"{what}: window must be 1 minute to 1 day, got {window}")
            object.__setattr__(self, "window", window)
        if self.on == DELIVERIES_FAILING:
            rate = DEFAULT_FAILURE_RATE if self.threshold is None else self.threshold
            if (
                isinstance(rate, bool)
                or not isinstance(rate, int | float)
                or not math.isfinite(rate)
                or not 0 < rate <= 1
            ):
                raise ConfigError(
                    f"{what}: threshold must be a failure rate in (0, 1], got {rate!r}"
                )
            object.__setattr__(self, "threshold", float(rate))
        elif self.on in (TIMERS_LATE, QUEUE_BACKLOG):
            default = DEFAULT_LATENESS if self.on == TIMERS_LATE else DEFAULT_BACKLOG
            limit = _duration(default if self.threshold is None else self.threshold,
                              f"{what} threshold")  # fmt: skip
            if limit <= timedelta(0):
                raise ConfigError(f"{what}: threshold must be a positive duration, got {limit}")
            object.__setattr__(self, "threshold", limit)

    @property
    def key(self) -> str:
        """The rule's identity in the database: ``name``, else the condition and a hash
        of its parameters (so two rules never share a window)."""
        if self.name is not None:
            return self.name
        return f"{self.on}:{hashlib.sha256(self.describe().encode()).hexdigest()[:12]}"

    def describe(self) -> str:
        """The rule as canonical JSON (no secret): what its key is derived from."""
        return json.dumps(self.parameters() | {"to": _target(self.to)}, sort_keys=True)

    def parameters(self) -> dict[str, Any]:
        """The condition and its parameters, as JSON values (durations in seconds)."""
        out: dict[str, Any] = {"on": self.on, "every": _seconds(self.every)}
        if self.tasks is not None:
            out["tasks"] = list(self.tasks)
        for p in ("threshold", "window"):
            if (value := getattr(self, p)) is not None:
                out[p] = _seconds(value) if isinstance(value, timedelta) else value
        if self.provider is not None:
            out["provider"] = self.provider
        return out


def check_alerts(alerts: object) -> tuple[Alert, ...]:
    """``alerts`` as a tuple of distinct rules; ConfigError naming the first bad item."""
    if alerts is None:
        return ()
    if isinstance(alerts, Alert | str) or not isinstance(alerts, Sequence):
        raise ConfigError("alerts must be a list of Alert(...)")
    seen: dict[str, Alert] = {}
    for i, alert in enumerate(alerts):
        if not isinstance(alert, Alert):
            raise ConfigError(f"alerts[{i}] must be an Alert(...), not {type(alert).__name__}")
        if alert.key in seen:
            raise ConfigError(f"alerts[{i}] repeats the rule {alert.key!r}; give it another name")
        seen[alert.key] = alert
    return tuple(seen.values())


def _target(to: str | Webhook) -> str:
    if isinstance(to, Webhook):
        return "webhook:" + hashlib.sha256(to.url.encode()).hexdigest()[:12]
    return "recipient:" + to


def _seconds(value: timedelta | float) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _duration(value: object, what: str) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{what} must be a timedelta or seconds, got {value!r}")
    try:
        return timedelta(seconds=value)
    except OverflowError:
        raise ConfigError(f"{what} of {value!r} seconds is out of range") from None


# -- timer lateness ---------------------------------------------------------------------
LATENESS_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
    300.0, 600.0, 1800.0, 3600.0,
)  # fmt: skip
"""Upper bounds (seconds) of the ``tidings_timer_lateness_seconds`` buckets; one more
bucket, index ``len(LATENESS_BUCKETS)``, holds everything later (``+Inf``)."""


def lateness_bucket(seconds: float) -> int:
    """The index of the bucket ``seconds`` falls in (bounds are inclusive, as ``le``)."""
    for i, bound in enumerate(LATENESS_BUCKETS):
        if seconds <= bound:
            return i
    return len(LATENESS_BUCKETS)


def lateness_quantile(q: float, buckets: Mapping[int, tuple[int, float]]) -> float | None:
    """The ``q`` quantile of bucketed samples ``{bucket: (count, sum of seconds)}``: the
    mean of the bucket holding it (exact when that bucket's samples are alike, never
    outside the bucket's bounds, and meaningful for the ``+Inf`` bucket too, where
    interpolating between bounds cannot be); None without samples."""
    total = sum(n for n, _ in buckets.values())
    if total == 0:
        return None
    rank, seen = q * total, 0
    for i in sorted(buckets):
        n, seconds = buckets[i]
        if n and seen + n >= rank:
            return seconds / n
        seen += n
    return None  # unreachable: the last bucket holds rank q * total <= total
