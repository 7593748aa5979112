"""Wait tokens and the questions tied to them (``ctx.create_token``, ``ctx.ask``).

A token completes once: :meth:`Tokens.complete` and :meth:`Tokens.answer` are one
conditional UPDATE each (not completed, not expired), and in the same transaction record
the internal event :data:`TOKEN_COMPLETED` that resumes the run waiting on the token.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

TOKEN_COMPLETED = "tidings/token.completed"
"""Internal event sent when a wait token completes (data: ``token_id``, ``data``)."""

Outcome = Literal["completed", "already", "expired", "unknown", "question"]
"""What a completion did: ``completed`` (this call did it), ``already`` (an earlier one
did), ``expired`` (too late: nothing done), ``unknown`` (no such token or question),
``question`` (the token belongs to a question: answer it instead)."""


@dataclass(frozen=True)
class NewToken:
    id: str
    run_id: str | None
    step: str | None
    name: str | None
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class TokenRow:
    id: str
    run_id: str | None
    step: str | None
    name: str | None
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None
    data: str | None
    """JSON given on completion."""
    completed_by: str | None


@dataclass(frozen=True)
class NewQuestion:
    id: str
    token: NewToken
    type_id: str
    recipient_id: str
    actions: tuple[str, ...]
    data: str
    """JSON: the notification's data."""


@dataclass(frozen=True)
class QuestionRow:
    id: str
    token_id: str
    run_id: str | None
    type_id: str
    recipient_id: str
    actions: tuple[str, ...]
    data: str
    notification_id: str | None
    created_at: datetime
    expires_at: datetime
    answered_at: datetime | None
    action: str | None
    channel: str | None
    answered_by: str | None


@dataclass(frozen=True)
class Completion:
    outcome: Outcome
    resumed: tuple[str, ...] = ()
    """Runs the completion resumed (to wake)."""


class Tokens(abc.ABC):
    """``store.tokens``: wait tokens and questions."""

    @abc.abstractmethod
    def create(self, token: NewToken) -> TokenRow:
        """Insert ``token``, or return the one its run's step already made."""

    @abc.abstractmethod
    def get(self, token_id: str) -> TokenRow | None: ...

    @abc.abstractmethod
    def complete(self, token_id: str, data: str, by: str, now: datetime) -> Completion:
        """Complete an open token (once, whatever races) and resume its waiting run.
        A token tied to a question is answered through :meth:`answer` instead
        (``question`` here, nothing done)."""

    @abc.abstractmethod
    def ask(self, question: NewQuestion) -> QuestionRow:
        """Insert the question and its token, or return the one its step already made."""

    @abc.abstractmethod
    def set_notification(self, question_id: str, notification_id: str) -> None: ...

    @abc.abstractmethod
    def question(self, question_id: str) -> QuestionRow | None: ...

    @abc.abstractmethod
    def question_of_notification(self, notification_id: str) -> QuestionRow | None: ...

    @abc.abstractmethod
    def answer(
        self,
        question_id: str,
        action: str,
        channel: str,
        answered_by: str,
        result: str,
        now: datetime,
    ) -> Completion:
        """Answer an open question (first answer wins): its token completes with
        ``result`` (the Answer as JSON) in the same transaction."""

    @abc.abstractmethod
    def open_question_for_phone(self, phone: str, now: datetime) -> QuestionRow | None:
        """The newest open question of a recipient with this phone number; without one,
        the newest question at all (answered or closed), or None."""

    @abc.abstractmethod
    def open_tokens(self, now: datetime, limit: int) -> list[TokenRow]:
        """Open (not completed, not expired) tokens, soonest expiry first."""

    @abc.abstractmethod
    def open_questions(self, now: datetime, limit: int) -> list[QuestionRow]:
        """Open questions, newest first."""
