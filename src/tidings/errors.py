"""Every exception tidings raises, in one place.

Bad input raises a subclass of :class:`ValueError` (:class:`ValidationError`), unknown
names a subclass of :class:`LookupError`, and everything derives from
:class:`TidingsError` so callers can catch the whole family at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tidings.records import ErrorInfo


class TidingsError(Exception):
    """Base class of every error tidings raises."""


class ValidationError(TidingsError, ValueError):
    """Input was rejected before anything changed (payload, option, step result...)."""


class DuplicateTaskError(ValidationError):
    """Two different task functions were registered under one id."""


class StepNameError(ValidationError):
    """A step name is empty, reserved, or collides with another step of the run."""


class NotSerializableError(ValidationError):
    """A payload or step result is not JSON; the message names the task or step and type."""


class MissingTimeoutError(ValidationError, TypeError):
    """``ctx.wait_for_event`` was called without a timeout (no run may wait forever)."""


class UnknownTaskError(TidingsError, LookupError):
    """No task is registered under the given id."""


class UnknownRunError(TidingsError, LookupError):
    """No run exists with the given id."""


class UnknownScheduleError(TidingsError, LookupError):
    """No schedule has this id or key."""


class StoreError(TidingsError):
    """The database cannot be used (corrupt, foreign, too new, unreachable)."""


class UnstorableTextError(StoreError, ValidationError):
    """A value the database cannot hold, refused before anything was written (a NUL
    character in text kept by PostgreSQL). A StoreError to the engine, as any refused
    statement is; a ValidationError (422) to whoever sent the value."""


class ConfigError(TidingsError, ValueError):
    """A setting (URL, environment variable, tidings.toml entry) is invalid."""


class NonRetriableError(TidingsError):
    """Raise inside a task or step to fail the run at once, without retrying."""


class NonDeterminismError(NonRetriableError):
    """The task code changed so the recorded history of a run cannot be replayed."""


class RunFailedError(TidingsError):
    """A run ended FAILED; :attr:`error` holds the stored type, message and traceback."""

    def __init__(self, run_id: str, error: ErrorInfo | None) -> None:
        detail = f"{error.type}: {error.message}" if error else "no error recorded"
        super().__init__(f"run {run_id} failed: {detail}")
        self.run_id = run_id
        self.error = error


class ChildRunFailed(RunFailedError):
    """A child run awaited with ``ctx.trigger_and_wait`` failed."""


class RunCancelledError(TidingsError):
    """A run whose result was awaited was cancelled."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id} was cancelled")
        self.run_id = run_id


class WorkerLostError(TidingsError):
    """A run's workers kept vanishing mid-attempt (crash, OOM kill): it was failed."""


class LeaseLostError(TidingsError):
    """This worker no longer holds the run (cancelled, or reclaimed after a lost lease)."""


class InvalidApiKeyError(TidingsError):
    """An API key is malformed, unknown, revoked, or of another environment."""


class UnknownApiKeyError(TidingsError, LookupError):
    """No live API key of the environment has this id or hint."""


class UnknownRecipientError(TidingsError, LookupError):
    """No recipient exists with the given id (``app.recipients.upsert`` it first)."""


class UnknownNotificationTypeError(TidingsError, LookupError):
    """No notification type is declared under the given id."""


class UnknownDeliveryError(TidingsError, LookupError):
    """No delivery exists with the given id."""


class UnknownBroadcastError(TidingsError, LookupError):
    """No broadcast exists with the given id."""


class UnknownTokenError(TidingsError, LookupError):
    """No wait token (or question, or action of it) exists with the given id or name."""


class UnknownBulkActionError(TidingsError, LookupError):
    """No bulk action exists with the given id."""
