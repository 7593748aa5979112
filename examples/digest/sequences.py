"""Lifecycle email sequences: their steps, timings and exit conditions, as data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class SequenceStep:
    key: str
    after: timedelta
    """When this email is due, counted from the start of the sequence."""
    email: str
    """The notification type that carries it."""


@dataclass(frozen=True)
class Sequence:
    name: str
    steps: tuple[SequenceStep, ...]
    exit_when: tuple[str, ...]
    """Conditions that end the sequence early, checked before every send: ``upgraded``,
    ``unsubscribed``."""


SEQUENCES = {
    s.name: s
    for s in (
        Sequence(
            "welcome",
            (
                SequenceStep("welcome", timedelta(0), "welcome-hello"),
                SequenceStep("connect", timedelta(days=1), "welcome-connect-notes"),
                SequenceStep("first-review", timedelta(days=4), "welcome-first-review"),
            ),
            exit_when=("unsubscribed",),
        ),
        Sequence(
            "notion-connected",
            (
                SequenceStep("synced", timedelta(0), "notion-connected-synced"),
                SequenceStep("tips", timedelta(days=2), "notion-connected-tips"),
            ),
            exit_when=("unsubscribed",),
        ),
        Sequence(
            "upgrade",
            (
                SequenceStep("why-pro", timedelta(0), "upgrade-why-pro"),
                SequenceStep("pro-features", timedelta(days=3), "upgrade-pro-features"),
                SequenceStep("last-call", timedelta(days=7), "upgrade-last-call"),
            ),
            exit_when=("upgraded", "unsubscribed"),
        ),
    )
}

EMAIL_TYPES = ("note-digest", *(step.email for s in SEQUENCES.values() for step in s.steps))
