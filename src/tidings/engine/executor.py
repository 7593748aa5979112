"""One attempt of a run: replay the task from the top, then record how it ended."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from tidings import logs, serde, telemetry
from tidings.errors import (
    ChildRunFailed,
    LeaseLostError,
    NonRetriableError,
    ValidationError,
    WorkerLostError,
)
from tidings.records import ErrorInfo, RunStatus
from tidings.store.runs import ClaimedRun, Outcome, StepRecord, WriteOp

from .context import Context
from .runtime import Attempt, Runtime
from .signals import AttemptAborted, StepFailed, Suspend

if TYPE_CHECKING:
    from tidings.tasks import TaskDef

log = logging.getLogger("tidings.worker")
outcomes = logging.getLogger("tidings.runs")
"""One line per attempt's end: completed, failed, retrying (internal runs at DEBUG)."""
UNKNOWN_TASK_DELAY = timedelta(seconds=60)
MAX_RECLAIMS = 5
"""Consecutive takeovers from vanished workers after which a run is failed."""


class AttemptTimeout(TimeoutError):
    """The attempt ran longer than the task's ``timeout``."""


async def execute(rt: Runtime, claimed: ClaimedRun, held_since: float | None = None) -> None:
    """Run one claimed attempt to its end and commit the outcome. ``held_since``: when
    the claim's lease was written (:attr:`Attempt.held_since`), for the worker's fence."""
    if claimed.late_by is not None:
        rt.lateness.observe(claimed.late_by, rt.clock.now())
    task = rt.tasks.get(claimed.task_id)
    if task is None:
        await _unknown_task(rt, claimed)
        return
    # Log lines written during the attempt name the run; with tracing on, the attempt
    # is a span, a child of whatever created the run (only then is its context read).
    traceparent = await _traceparent(rt, claimed) if telemetry.enabled() else None
    with (
        logs.run_scope(claimed.id, task.id, claimed.attempt),
        telemetry.attempt_span(claimed.id, task.id, claimed.attempt, traceparent) as span,
    ):
        await _execute(rt, claimed, task, span, held_since)


async def _traceparent(rt: Runtime, claimed: ClaimedRun) -> str | None:
    try:
        return await rt.db(rt.store.runs.traceparent, claimed.id)
    except Exception:  # tracing must never cost a run: trace it as a root instead
        log.warning("could not read the trace context of run %s", claimed.id, exc_info=True)
        return None


async def _execute(
    rt: Runtime,
    claimed: ClaimedRun,
    task: TaskDef,
    span: telemetry.AttemptSpan,
    held_since: float | None,
) -> None:
    ctx = Context(rt, claimed, task.id)
    attempt = Attempt(claimed, ctx, held_since=held_since)
    rt.attempts[claimed.id] = attempt
    try:
        decided = await _run(rt, task, attempt)
        if decided is None:
            return
        outcome, steps = decided
        span.outcome(outcome.status, _span_error(outcome))
        outcome = dataclasses.replace(
            outcome, ended_at=rt.clock.now(), parent_run_id=claimed.parent_run_id
        )
        attempt.finishing = True
        await rt.write(
            WriteOp(
                claimed.id,
                claimed.lease_token,
                outcome=outcome,
                steps=tuple(steps),
                logs=tuple(ctx._logs),
            )
        )
        _log_outcome(claimed, task, outcome)
    except LeaseLostError:
        log.info(
            "run %s was cancelled or reclaimed while it ran; dropping this attempt", claimed.id
        )
    except Exception:
        # The store failed: leave the lease to expire so another worker replays the run.
        log.exception("could not record the end of run %s; it will be retried", claimed.id)
    finally:
        rt.attempts.pop(claimed.id, None)


def _log_outcome(claimed: ClaimedRun, task: TaskDef, outcome: Outcome) -> None:
    """Say how the attempt ended, in one line (a wait says nothing: it is not an end)."""
    level = logging.DEBUG if task.id.startswith("tidings.") else logging.INFO
    what = f"run {claimed.id} ({task.id})"
    error = outcome.error
    reason = f"{error.type}: {_first_line(error.message)}" if error is not None else ""
    if outcome.status is RunStatus.COMPLETED:
        outcomes.log(level, "%s completed (attempt %d)", what, claimed.attempt)
    elif outcome.status is RunStatus.FAILED:
        failed = logging.DEBUG if level == logging.DEBUG else logging.WARNING
        outcomes.log(failed, "%s failed on attempt %d: %s", what, claimed.attempt, reason)
    elif outcome.status is RunStatus.QUEUED and error is not None and outcome.due_at:
        wait = max(outcome.due_at - outcome.ended_at, timedelta(0)) if outcome.ended_at else None
        outcomes.log(
            level,
            "%s attempt %d failed (%s); retrying in %s",
            what,
            claimed.attempt,
            reason,
            _short(wait) if wait is not None else "a moment",
        )


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _short(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def _span_error(outcome: Outcome) -> str | None:
    """A failed attempt's error for its span (a retry is a failed attempt too)."""
    if outcome.error is None or outcome.status not in (RunStatus.FAILED, RunStatus.QUEUED):
        return None
    return f"{outcome.error.type}: {outcome.error.message}"


async def _unknown_task(rt: Runtime, claimed: ClaimedRun) -> None:
    # Another deploy may know the task (rolling upgrade): hand the run back for later
    # rather than failing it.
    log.warning(
        "task %r of run %s is not registered in this app; retrying in %s",
        claimed.task_id,
        claimed.id,
        UNKNOWN_TASK_DELAY,
    )
    outcome = Outcome(RunStatus.QUEUED, due_at=rt.clock.now() + UNKNOWN_TASK_DELAY)
    with contextlib.suppress(LeaseLostError):
        await rt.write(WriteOp(claimed.id, claimed.lease_token, outcome=outcome))


async def _invoke(task: TaskDef, ctx: Context, payload: Any) -> Any:
    args = (ctx, payload) if task.takes_payload else (ctx,)
    if task.timeout is None:
        return await task.fn(*args)
    try:
        async with asyncio.timeout(task.timeout.total_seconds()):
            return await task.fn(*args)
    except TimeoutError as exc:
        raise AttemptTimeout(
            f"attempt {ctx.attempt} of task {task.id!r} exceeded its timeout of {task.timeout}"
        ) from exc


Decision = tuple[Outcome, Sequence[StepRecord]] | None


def _admit(task: TaskDef, claimed: ClaimedRun) -> Any:
    """The payload to run with, unless the run must fail before it starts."""
    if claimed.reclaims > MAX_RECLAIMS:
        raise WorkerLostError(
            f"run {claimed.id} was taken over {claimed.reclaims} times from workers that "
            "died or stalled past their lease while running it (a crash, an OOM kill?); "
            "failing it so it cannot take down every worker"
        )
    return task.decode_payload(claimed.payload)


async def _run(rt: Runtime, task: TaskDef, attempt: Attempt) -> Decision:
    ctx, claimed = attempt.ctx, attempt.claimed
    try:
        payload = _admit(task, claimed)
    except (WorkerLostError, ValidationError) as exc:
        return _failed(rt, exc), ()
    attempt.body = asyncio.create_task(_invoke(task, ctx, payload))
    try:
        value = await attempt.body
    except asyncio.CancelledError:
        if attempt.reason is None:
            raise  # the worker itself is being torn down
        if attempt.reason == "drain":
            await rt.write(WriteOp(claimed.id, claimed.lease_token, release_at=rt.clock.now()))
        return None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        if not isinstance(exc, AttemptTimeout):  # a timeout already cancelled its steps
            await ctx.settle()
        return await _ended_by(rt, task, attempt, exc)
    await ctx.settle()
    if ctx._suspended:  # user code swallowed the Suspend signal
        return _waiting(ctx)
    try:
        result = serde.dumps(value, f"result of task {task.id!r}")
    except ValidationError as exc:
        return _failed(rt, exc), ()
    return Outcome(RunStatus.COMPLETED, result=result, finished_at=rt.clock.now()), ()


async def _ended_by(rt: Runtime, task: TaskDef, attempt: Attempt, exc: BaseException) -> Decision:
    """What an attempt that raised (or signalled) leads to."""
    ctx, claimed = attempt.ctx, attempt.claimed
    if isinstance(exc, Suspend):
        return _waiting(ctx)
    if isinstance(exc, StepFailed):
        return _step_failed(rt, task, claimed, exc.step, exc.cause)
    if isinstance(exc, AttemptAborted):
        return await _aborted(rt, claimed, exc.cause)
    if isinstance(exc, AttemptTimeout):
        return _timed_out(rt, task, claimed, ctx, exc)
    if isinstance(exc, NonRetriableError | ValidationError | ChildRunFailed):
        # tidings' own ValidationError is a programming error (bad step name, naive
        # datetime...), and a failed child stays failed: retrying cannot fix either.
        return _failed(rt, exc), ()
    if isinstance(exc, Exception):
        return _body_failed(rt, task, claimed, exc)
    raise exc


def _waiting(ctx: Context) -> Decision:
    wakes = [w.wake_at for w in ctx._waits if w.wake_at is not None]
    # No wake time (a child run awaited without timeout): only an event resumes it.
    outcome = Outcome(
        RunStatus.WAITING, due_at=min(wakes) if wakes else None, waits=tuple(ctx._event_waits)
    )
    return outcome, ctx._waits


async def _aborted(rt: Runtime, claimed: ClaimedRun, cause: Exception) -> Decision:
    if isinstance(cause, LeaseLostError):
        return None  # cancelled or reclaimed: nothing of ours to write
    log.warning(
        "run %s: the store failed mid-attempt (%s); handing the run back", claimed.id, cause
    )
    # If it is still down, the lease expires and any worker resumes the run.
    with contextlib.suppress(Exception):
        await rt.write(WriteOp(claimed.id, claimed.lease_token, release_at=rt.clock.now()))
    return None


def _failed(rt: Runtime, exc: BaseException) -> Outcome:
    return Outcome(
        RunStatus.FAILED, error=ErrorInfo.from_exception(exc), finished_at=rt.clock.now()
    )


def _retry_or_fail(
    rt: Runtime,
    task: TaskDef,
    claimed: ClaimedRun,
    failures: int,
    exc: BaseException,
    body_attempts: int | None = None,
) -> Outcome:
    error = ErrorInfo.from_exception(exc)
    if (
        isinstance(exc, NonRetriableError)
        or not task.retry.retriable(exc)
        or failures >= task.retry.max_attempts
    ):
        return Outcome(
            RunStatus.FAILED,
            error=error,
            finished_at=rt.clock.now(),
            attempt=claimed.attempt,
            body_attempts=body_attempts,
        )
    return Outcome(
        RunStatus.QUEUED,
        due_at=rt.clock.now() + task.retry.delay(failures),
        error=error,
        attempt=claimed.attempt + 1,
        body_attempts=body_attempts,
    )


def _step_failed(
    rt: Runtime, task: TaskDef, claimed: ClaimedRun, step: StepRecord, cause: BaseException
) -> Decision:
    return _retry_or_fail(rt, task, claimed, step.attempts, cause), (step,)


def _body_failed(rt: Runtime, task: TaskDef, claimed: ClaimedRun, exc: Exception) -> Decision:
    failures = claimed.body_attempts + 1
    return _retry_or_fail(rt, task, claimed, failures, exc, body_attempts=failures), ()


def _timed_out(
    rt: Runtime, task: TaskDef, claimed: ClaimedRun, ctx: Context, exc: AttemptTimeout
) -> Decision:
    """Charge a timeout to the steps it interrupted, or to the task body if none."""
    error = ErrorInfo.from_exception(exc)
    steps = [
        StepRecord(s.name, s.kind, "failed", s.attempts, None, error, s.started_at, rt.clock.now())
        for s in ctx._interrupted
    ]
    if not steps:
        return _body_failed(rt, task, claimed, exc)
    return _retry_or_fail(rt, task, claimed, max(s.attempts for s in steps), exc), steps


__all__ = ["execute"]
