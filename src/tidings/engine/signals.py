"""Control-flow signals that end an attempt without being errors.

They derive from BaseException, like asyncio.CancelledError, so they pass through user
code's ``except Exception:`` untouched.
"""

from __future__ import annotations

from tidings.store.runs import StepRecord


class Suspend(BaseException):
    """The run waits (sleep, event, child run): end the attempt, keep the run."""


class StepFailed(BaseException):
    """A step raised: the attempt ends and the step's own retry budget decides what next."""

    def __init__(self, step: StepRecord, cause: BaseException) -> None:
        super().__init__(step.name)
        self.step = step
        self.cause = cause


class AttemptAborted(BaseException):  # a signal, not an error
    """A write of the attempt failed: the store is down, or the run is no longer ours.

    Ends the attempt at once. A BaseException so user code cannot mistake it for its
    own error and carry on past a step whose result may not have been recorded.
    """

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause
