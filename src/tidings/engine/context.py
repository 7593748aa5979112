"""The ``ctx`` a task receives: memoized steps, durable sleeps, clock and logger."""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tidings import serde
from tidings.errors import (
    LeaseLostError,
    NonDeterminismError,
    NonRetriableError,
    StepNameError,
    StoreError,
    ValidationError,
)
from tidings.options import as_timedelta
from tidings.records import ErrorInfo
from tidings.store.base import ClaimedRun, LogWrite, StepRecord

from .signals import AttemptAborted, StepFailed, Suspend

if TYPE_CHECKING:
    from .runtime import Runtime

_RESERVED_SUFFIX = re.compile(r":\d+$")
_stdlib_logger = logging.getLogger("tidings.run")


class RunLogger:
    """``ctx.logger``: lines are stored with the run and forwarded to ``logging``.

    While a resumed run replays code it already ran, its log lines are not repeated.
    """

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def _log(self, level: int, msg: str, args: tuple[Any, ...], exc: bool = False) -> None:
        ctx = self._ctx
        if ctx.replaying:
            return
        text = msg % args if args else msg
        if exc:
            import traceback

            text += "\n" + traceback.format_exc().rstrip()
        ctx._logs.append(LogWrite(ctx.now(), logging.getLevelName(level), text, ctx.attempt))
        _stdlib_logger.log(level, "[%s %s] %s", ctx.task_id, ctx.run_id, text)

    def debug(self, msg: str, *args: Any) -> None:
        self._log(logging.DEBUG, msg, args)

    def info(self, msg: str, *args: Any) -> None:
        self._log(logging.INFO, msg, args)

    def warning(self, msg: str, *args: Any) -> None:
        self._log(logging.WARNING, msg, args)

    def error(self, msg: str, *args: Any) -> None:
        self._log(logging.ERROR, msg, args)

    def exception(self, msg: str, *args: Any) -> None:
        self._log(logging.ERROR, msg, args, exc=True)


class Context:
    """Handed to every task function as its first argument."""

    def __init__(self, runtime: Runtime, claimed: ClaimedRun, task_id: str) -> None:
        self._runtime = runtime
        self._claimed = claimed
        self._recorded = dict(claimed.steps)
        self._counts: dict[str, int] = {}
        self._unvisited = set(claimed.steps)
        self._logs: list[LogWrite] = []
        self._waits: list[StepRecord] = []
        self._inflight: dict[str, asyncio.Task[Any]] = {}
        self._suspended = False
        self._interrupted: list[StepRecord] = []
        self.run_id = claimed.id
        self.task_id = task_id
        self.attempt = claimed.attempt
        self.environment = runtime.environment
        self.logger = RunLogger(self)

    # -- public API --------------------------------------------------------------------
    def now(self) -> datetime:
        """The engine clock's time (virtual under TestEngine)."""
        return self._runtime.clock.now()

    @property
    def replaying(self) -> bool:
        """True while the task re-executes code whose steps are already recorded."""
        return bool(self._unvisited)

    async def step(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` once per run and return its JSON result.

        A completed step returns its stored result on every later execution. A sync
        ``fn`` runs in a thread. If ``fn`` raises, the attempt ends and the run is
        retried by the task's ``Retry`` policy, counted for this step alone.
        """
        full = self._claim_name(name, "step")
        recorded = self._recorded.get(full)
        if recorded is not None and recorded.status == "completed":
            return serde.loads(recorded.result)
        self._check_live()
        attempts = (recorded.attempts if recorded else 0) + 1
        started = self.now()
        current = asyncio.current_task()
        if current is not None:
            self._inflight[full] = current
        try:
            try:
                value = await self._call(fn, args, kwargs)
            except asyncio.CancelledError:
                # remembered so an attempt timeout can be charged to this step's budget
                self._interrupted.append(
                    StepRecord(full, "step", "failed", attempts, None, None, started, self.now())
                )
                raise
            except (Suspend, KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:
                failed = StepRecord(
                    full,
                    "step",
                    "failed",
                    attempts,
                    None,
                    ErrorInfo.from_exception(exc),
                    started,
                    self.now(),
                )
                raise StepFailed(failed, exc) from exc
            try:
                encoded = serde.dumps(value, f"step {full!r} of task {self.task_id!r} result")
            except ValidationError as exc:
                raise NonRetriableError(str(exc)) from None
            record = StepRecord(
                full, "step", "completed", attempts, encoded, None, started, self.now()
            )
            await self._save(record)
        finally:
            self._inflight.pop(full, None)
        return serde.loads(encoded)

    async def sleep(self, duration: timedelta | float, *, name: str = "sleep") -> None:
        """Wait durably for ``duration``; the run holds no worker while it waits."""
        delta = as_timedelta(duration, "ctx.sleep duration")
        if delta < timedelta(0):
            raise ValidationError(f"ctx.sleep duration must not be negative, got {delta}")
        await self._wait_until(name, lambda: self.now() + delta)

    async def sleep_until(self, when: datetime, *, name: str = "sleep") -> None:
        """Wait durably until the aware datetime ``when``."""
        if not isinstance(when, datetime):
            raise ValidationError(f"ctx.sleep_until needs a datetime, not {type(when).__name__}")
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValidationError(
                f"ctx.sleep_until got a naive datetime ({when.isoformat()}); "
                "give it a timezone, e.g. datetime(..., tzinfo=UTC)"
            )
        await self._wait_until(name, lambda: when)

    # -- internals ---------------------------------------------------------------------
    def _claim_name(self, name: str, kind: str) -> str:
        if not isinstance(name, str) or not name.strip():
            raise StepNameError(f"step names must be non-empty strings, got {name!r}")
        if _RESERVED_SUFFIX.search(name):
            raise StepNameError(
                f"step name {name!r} ends in ':<number>', which tidings reserves for "
                "repeated names (a step called twice is 'name', then 'name:2'); rename it"
            )
        count = self._counts.get(name, 0) + 1
        self._counts[name] = count
        full = name if count == 1 else f"{name}:{count}"
        recorded = self._recorded.get(full)
        if recorded is not None and recorded.kind != kind:
            raise NonDeterminismError(
                f"step {full!r} of run {self.run_id} was recorded as a {recorded.kind} "
                f"but is now called as a {kind}: the task code changed in a way this run "
                "cannot replay"
            )
        self._unvisited.discard(full)
        return full

    def _check_live(self) -> None:
        # Once the run has suspended, no new work may start in this attempt.
        if self._suspended:
            raise Suspend()

    async def _call(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if inspect.iscoroutinefunction(fn):
            return await fn(*args, **kwargs)
        value = await self._runtime.run_sync(fn, *args, **kwargs)
        if inspect.isawaitable(value):
            return await value
        return value

    async def _wait_until(self, name: str, wake: Callable[[], datetime]) -> None:
        full = self._claim_name(name, "sleep")
        recorded = self._recorded.get(full)
        if recorded is not None and recorded.status == "completed":
            return
        self._check_live()
        if recorded is not None and recorded.wake_at is not None:
            wake_at, started = recorded.wake_at, recorded.started_at
        else:
            wake_at, started = wake(), self.now()
        if self.now() >= wake_at:
            await self._save(
                StepRecord(full, "sleep", "completed", 1, None, None, started, self.now(), wake_at)
            )
            return
        self._waits.append(
            StepRecord(full, "sleep", "waiting", 1, None, None, started, None, wake_at)
        )
        self._suspended = True
        raise Suspend()

    async def _save(self, record: StepRecord) -> None:
        logs, self._logs = self._logs, []
        try:
            await self._runtime.save_step(self._claimed, record, logs)
        except (StoreError, LeaseLostError) as exc:
            raise AttemptAborted(exc) from exc
        self._recorded[record.name] = record

    async def settle(self) -> None:
        """Let steps still running (siblings in a gather) finish and commit."""
        me = asyncio.current_task()
        while pending := [t for t in self._inflight.values() if not t.done() and t is not me]:
            await asyncio.wait(pending)

    def inflight_steps(self) -> list[str]:
        return list(self._inflight)
