"""The ``ctx`` a task receives: memoized steps, durable sleeps, clock and logger."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeVar, overload

from tidings import logs, serde, telemetry
from tidings.errors import (
    ChildRunFailed,
    ConfigError,
    LeaseLostError,
    MissingTimeoutError,
    NonDeterminismError,
    NonRetriableError,
    StepNameError,
    StoreError,
    ValidationError,
)
from tidings.handle import BroadcastHandle
from tidings.matching import canonical, check_path, shape
from tidings.options import as_timedelta, check_actions
from tidings.records import ErrorInfo, Event, EventReceipt, NotifyResult
from tidings.records.answers import Answer, TokenResult, WaitToken
from tidings.records.notify import Topic
from tidings.store.events import RUN_FINISHED
from tidings.store.runs import ClaimedRun, EventWait, LogWrite, StepRecord
from tidings.store.tokens import TOKEN_COMPLETED

from .metrics import observe_step
from .signals import AttemptAborted, StepFailed, Suspend

if TYPE_CHECKING:
    from tidings.clock import Clock
    from tidings.kernel import ContextExtension, Kernel
    from tidings.store.base import Store

T = TypeVar("T")


class AttemptHost(Protocol):
    """What a context needs of the runtime executing its attempt (the engine's
    :class:`~tidings.engine.runtime.Runtime`, which holds the attempts and so their
    contexts: the context knows it only by this shape)."""

    kernel: Kernel
    store: Store

    @property
    def clock(self) -> Clock: ...

    @property
    def environment(self) -> str: ...

    @property
    def context_extension(self) -> ContextExtension | None: ...

    async def db(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the database thread."""
        ...

    async def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a sync step function on the step thread pool."""
        ...

    async def held(self, run_id: str) -> None:
        """Return once the run's lease is fresh enough to start a step (fencing)."""
        ...

    async def save_step(
        self, claimed: ClaimedRun, record: StepRecord, logs: list[LogWrite]
    ) -> None:
        """Commit a step's record (group commit, fenced by the lease)."""
        ...


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

    def __init__(self, runtime: AttemptHost, claimed: ClaimedRun, task_id: str) -> None:
        self._runtime = runtime
        self._claimed = claimed
        self._recorded = dict(claimed.steps)
        self._counts: dict[str, int] = {}
        self._unvisited = set(claimed.steps)
        self._logs: list[LogWrite] = []
        self._waits: list[StepRecord] = []
        self._event_waits: list[EventWait] = []
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
        await self._runtime.held(self.run_id)  # no new step on a lease we may have lost
        self._check_live()
        attempts = (recorded.attempts if recorded else 0) + 1
        started = self.now()
        self._track(full)
        try:
            try:
                with telemetry.step_span(self.run_id, full, attempts), logs.step_scope(full):
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

    async def wait_for_event(
        self,
        event: str,
        *,
        match: Mapping[str, Any] | None = None,
        timeout: timedelta | float | None = None,
        name: str | None = None,
    ) -> Event | None:
        """Wait durably for the next ``event`` whose data matches; None at the timeout.

        ``match`` maps dotted paths into the event data to the values they must equal.
        Only events sent after the wait began count. The run holds no worker meanwhile.
        """
        if timeout is None:
            raise MissingTimeoutError(
                f"wait_for_event({event!r}) needs a timeout (it may be long, a year if need "
                "be): no run may wait forever by accident"
            )
        delta = as_timedelta(timeout, "wait_for_event timeout")
        if delta <= timedelta(0):
            raise ValidationError(f"wait_for_event timeout must be positive, got {delta}")
        if not isinstance(event, str) or not event.strip():
            raise ValidationError(f"wait_for_event needs an event name, got {event!r}")
        paths = sorted(check_path(p, "wait_for_event match path") for p in (match or {}))
        expected = serde.normalize(
            [(match or {})[p] for p in paths], f"match of wait_for_event({event!r})"
        )
        full = self._claim_name(name or event, "wait_for_event")
        recorded = self._recorded.get(full)
        if recorded is not None and recorded.status == "completed":
            found = serde.loads(recorded.result)
            return None if found is None else Event.from_json(found)
        if recorded is None:
            self._check_live()
        since = recorded.started_at if recorded and recorded.started_at else self.now()
        wake_at = recorded.wake_at if recorded and recorded.wake_at else since + delta
        if self.now() >= wake_at:  # timed out
            await self._save(
                StepRecord(
                    full, "wait_for_event", "completed", 1, "null", None, since, self.now(), wake_at
                )
            )
            return None
        self._suspend_on(
            StepRecord(full, "wait_for_event", "waiting", 1, None, None, since, None, wake_at),
            EventWait(full, event, shape(paths), canonical(expected), since),
        )

    async def send_event(
        self, event: str, data: Any = None, *, name: str | None = None
    ) -> EventReceipt:
        """Send an event from inside a task, exactly once per run (a memoized step)."""
        kernel = self._runtime.kernel

        async def send(full: str) -> EventReceipt:
            send = functools.partial(kernel.send_event, event, data, id=f"{self.run_id}:{full}")
            return await self._runtime.db(send)

        return await self.memoized(
            name or event, "send_event", send, encode=_receipt_json, decode=_receipt
        )

    async def trigger(
        self, task: str, payload: Any = None, *, name: str | None = None, **options: Any
    ) -> str:
        """Start a child run once per run (memoized: a replay never triggers twice).

        Takes the options of ``app.trigger``; returns the child's run id.
        """

        async def start(full: str) -> str:
            return await self._start_child(task, payload, full, options, wait=False)

        return await self.memoized(name or task, "trigger", start, encode=str, decode=str)

    async def trigger_and_wait(
        self, task: str, payload: Any = None, *, name: str | None = None, **options: Any
    ) -> Any:
        """Start a child run and wait for it without holding a worker; return its result.

        Raises ChildRunFailed (with the child's error) if it failed or was cancelled.
        """
        full, recorded = self._claim(name or task, "trigger_and_wait")
        if recorded is not None and recorded.status == "completed":
            return _child_result(serde.loads(recorded.result))
        if recorded is not None and recorded.result is not None:
            child, since = serde.loads(recorded.result)["child_run_id"], recorded.started_at
        else:
            # the attempt must not end before this wait is recorded
            async with self._fresh(full):
                child = await self._start_child(task, payload, full, options, wait=True)
            since = self.now()
        assert since is not None
        self._suspend_on(
            StepRecord(
                full,
                "trigger_and_wait",
                "waiting",
                1,
                serde.dumps({"child_run_id": child}, "child"),
                None,
                since,
                None,
            ),
            EventWait(full, RUN_FINISHED, shape(["run_id"]), canonical([child]), since),
        )

    @overload
    async def notify(
        self,
        type: str,
        *,
        to: str,
        data: Any = None,
        channels: Sequence[str] | None = None,
        dedup_key: str | None = None,
        name: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> NotifyResult: ...

    @overload
    async def notify(
        self,
        type: str,
        *,
        to: Topic | list[str] | tuple[str, ...],
        data: Any = None,
        channels: Sequence[str] | None = None,
        dedup_key: str | None = None,
        name: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> BroadcastHandle: ...

    async def notify(
        self,
        type: str,
        *,
        to: str | Topic | Sequence[str],
        data: Any = None,
        channels: Sequence[str] | None = None,
        dedup_key: str | None = None,
        name: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> NotifyResult | BroadcastHandle:
        """Send a notification once per run (a memoized step of kind ``notify``).

        ``to`` a :class:`~tidings.Topic` or a list of recipient ids makes a broadcast
        (once per run, like any notify): the handle of it is returned at once and its
        own run routes every recipient (see ``app.notify``).

        Routes it to each channel of the type (or of ``channels``, a subset) by the
        recipient's preferences, addresses and quiet hours, records one delivery per
        channel and returns them (a :class:`~tidings.records.NotifyResult`).
        Re-executing the run never sends again; the default dedup key is this run and
        step, and an explicit ``dedup_key`` holds across runs within the app's
        idempotency window. ``tags`` are kept on the inbox item (``app.inbox.list``
        filters by them).
        """
        result: NotifyResult | BroadcastHandle = await self._extension("notify").notify(
            self, type, to=to, data=data, channels=channels, dedup_key=dedup_key, name=name,
            tags=tags,
        )  # fmt: skip
        return result

    async def digest(
        self, key: str, item: Any = None, *, window: timedelta | float, name: str = "digest"
    ) -> list[Any] | None:
        """Collect ``item`` into the digest of ``key``, one window per key.

        The first run to add to a key opens a window of ``window`` and holds it: it waits
        durably until the window ends and gets every item added meanwhile, in order (its
        own first). Runs whose item joined an open window get None back at once (they have
        nothing more to do). Items are JSON.
        """
        return await self._extension("digest").digest(self, key, item, window, name)

    async def create_token(
        self, *, timeout: timedelta | float | None = None, name: str | None = None
    ) -> WaitToken:
        """A wait token, once per run (the same token on every replay): its ``url``
        completes it on a POST, ``app.complete_token(token.id, data)`` too.

        Wait for it with :meth:`wait_for_token`; it expires ``timeout`` after now.
        """
        delta = _positive_timeout(timeout, "create_token")
        token: WaitToken = await self._extension("create_token").create_token(self, delta, name)
        return token

    async def wait_for_token(
        self, token: WaitToken | str, *, name: str | None = None
    ) -> TokenResult | None:
        """Wait durably until ``token`` is completed: its :class:`TokenResult`, or None
        once it has expired. A token completed before the wait began returns at once.
        The run holds no worker meanwhile and resumes as soon as it is completed."""
        token_id = token.id if isinstance(token, WaitToken) else token
        if not isinstance(token_id, str) or not token_id:
            raise ValidationError(f"wait_for_token needs a WaitToken or its id, got {token!r}")
        full = self._claim_name(name or "wait_for_token", "wait_for_token")
        recorded = self._recorded.get(full)
        if recorded is not None and recorded.status == "completed":
            return _token_result(serde.loads(recorded.result))
        if recorded is None:
            self._check_live()
        since = self.now()
        row = await self._runtime.db(self._runtime.store.tokens.get, token_id)
        if row is None:
            raise ValidationError(f"wait_for_token: no wait token with id {token_id!r}")
        started = recorded.started_at if recorded and recorded.started_at else since
        if row.completed_at is not None or self.now() >= row.expires_at:
            found = None
            if row.completed_at is not None:
                found = json.dumps(
                    {
                        "id": f"token:{row.id}",
                        "name": TOKEN_COMPLETED,
                        "data": {"token_id": row.id, "data": json.loads(row.data or "null")},
                        "ts": row.completed_at.isoformat(),
                    }
                )
            await self._save(
                StepRecord(
                    full,
                    "wait_for_token",
                    "completed",
                    1,
                    found or "null",
                    None,
                    started,
                    self.now(),
                    row.expires_at,
                )
            )
            return None if found is None else _token_result(serde.loads(found))
        self._suspend_on(
            StepRecord(
                full, "wait_for_token", "waiting", 1, None, None, started, None, row.expires_at
            ),
            EventWait(full, TOKEN_COMPLETED, shape(["token_id"]), canonical([row.id]), since),
        )

    async def ask(
        self,
        type: str,
        *,
        to: str,
        data: Any = None,
        actions: Sequence[str] = ("accept", "decline"),
        timeout: timedelta | float | None = None,
        channels: Sequence[str] | None = None,
        name: str | None = None,
    ) -> Answer | None:
        """Ask ``to`` a question: send notification ``type`` with ``actions`` rendered
        on each channel (links in email and push, buttons in the inbox, "reply 1..."
        by SMS) and wait durably for the first answer on any channel.

        Returns the :class:`Answer`, or None once ``timeout`` has passed unanswered.
        Sent once per run (a memoized step); preferences, quiet hours and critical
        rules apply as to any notification.
        """
        checked = check_actions(actions)
        delta = _positive_timeout(timeout, f"ask({type!r})")
        if not isinstance(to, str):
            raise ValidationError(f"ctx.ask asks one recipient: to must be an id, got {to!r}")
        answer: Answer | None = await self._extension("ask").ask(
            self, type, to=to, data=data, actions=checked, timeout=delta, channels=channels,
            name=name,
        )  # fmt: skip
        return answer

    # -- for extensions ----------------------------------------------------------------
    async def memoized(
        self,
        name: str,
        kind: str,
        run: Callable[[str], Awaitable[T]],
        *,
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
    ) -> T:
        """Do ``run`` once per run as a step of ``kind``; every later execution gets the
        recorded value back (``ctx.send_event``, ``trigger``, ``notify`` are built on it).

        ``run`` gets the step's full name (``name``, ``name:2``...), from which it may
        derive idempotency keys; ``encode`` turns its value into JSON to record and
        ``decode`` turns that JSON back. Unlike :meth:`step` there is no retry charged
        to the step: if ``run`` raises, the attempt fails as a whole.
        """
        full, recorded = self._claim(name, kind)
        if recorded is not None and recorded.status == "completed":
            return decode(serde.loads(recorded.result))
        started = self.now()
        async with self._fresh(full):
            value = await run(full)
            result = serde.dumps(encode(value), f"result of {kind} {full!r}")
            await self._save(
                StepRecord(full, kind, "completed", 1, result, None, started, self.now())
            )
        return value

    def _claim(self, name: str, kind: str) -> tuple[str, StepRecord | None]:
        full = self._claim_name(name, kind)
        return full, self._recorded.get(full)

    @contextlib.asynccontextmanager
    async def _fresh(self, full: str) -> AsyncIterator[None]:
        """Around work a memoized call does for the first time: not once the run has
        suspended, and in flight (so a sibling's suspend waits for it) until done."""
        await self._runtime.held(self.run_id)
        self._check_live()
        self._track(full)
        try:
            yield
        finally:
            self._inflight.pop(full, None)

    def _extension(self, call: str) -> ContextExtension:
        extension = self._runtime.context_extension
        if extension is None:
            raise ConfigError(
                f"ctx.{call} needs the notification service: run the task through a "
                "Tidings app (its worker or TestEngine), which installs it"
            )
        return extension

    # -- internals ---------------------------------------------------------------------
    def _track(self, name: str) -> None:
        """Count the current task as in flight under ``name`` until it pops itself.

        When a sibling suspends the run, the attempt waits (settle) for these to finish
        and record what they did before it ends.
        """
        current = asyncio.current_task()
        if current is not None:
            self._inflight[name] = current

    def _suspend_on(self, step: StepRecord, wait: EventWait) -> NoReturn:
        self._waits.append(step)
        self._event_waits.append(wait)
        self._suspended = True
        raise Suspend()

    async def _start_child(
        self, task: str, payload: Any, step: str, options: dict[str, Any], *, wait: bool
    ) -> str:
        kernel, rt = self._runtime.kernel, self._runtime
        allowed = {"delay", "run_at", "priority", "queue", "tags", "idempotency_key"}
        if unknown := sorted(set(options) - allowed):
            raise ValidationError(f"unknown child run options: {', '.join(unknown)}")
        # A key derived from (run, step) makes the trigger idempotent across replays.
        key = options.pop("idempotency_key", None) or f"{self.run_id}:{step}"
        new = kernel.new_run(
            task,
            payload,
            idempotency_key=key,
            delay=options.get("delay"),
            run_at=options.get("run_at"),
            priority=options.get("priority"),
            queue=options.get("queue"),
            tags=options.get("tags"),
            parent_run_id=self.run_id if wait else None,
        )
        cancelled: list[str] = []  # a singleton child's earlier run, cancelled
        ttl = kernel.idempotency_ttl
        child, created = await rt.db(rt.store.runs.create, new, self.now(), ttl, cancelled)
        for run_id in cancelled:
            kernel.interrupt(run_id, "cancelled")
        if created or new.gate is not None:
            kernel.wake()
        return child

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
        started, ok = time.perf_counter(), False
        try:
            if inspect.iscoroutinefunction(fn):
                value = await fn(*args, **kwargs)
            else:
                value = await self._runtime.run_sync(fn, *args, **kwargs)
                if inspect.isawaitable(value):
                    value = await value
            ok = True
            return value
        finally:
            observe_step(self.task_id, ok, time.perf_counter() - started)

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


def _positive_timeout(timeout: timedelta | float | None, call: str) -> timedelta:
    if timeout is None:
        raise MissingTimeoutError(
            f"{call} needs a timeout (it may be long, a year if need be): no run may wait "
            "forever by accident"
        )
    delta = as_timedelta(timeout, f"{call} timeout")
    if delta <= timedelta(0):
        raise ValidationError(f"{call} timeout must be positive, got {delta}")
    return delta


def _token_result(found: Any) -> TokenResult | None:
    if found is None:
        return None
    return TokenResult(found["data"]["data"], datetime.fromisoformat(found["ts"]))


def _receipt_json(receipt: EventReceipt) -> dict[str, Any]:
    return {
        "event_id": receipt.event_id,
        "run_ids": list(receipt.run_ids),
        "accepted": receipt.accepted,
    }


def _receipt(stored: dict[str, Any]) -> EventReceipt:
    return EventReceipt(stored["event_id"], tuple(stored["run_ids"]), stored["accepted"])


def _child_result(event: dict[str, Any]) -> Any:
    data = event["data"]
    if data["status"] == "COMPLETED":
        return data["result"]
    error = ErrorInfo.from_json(data.get("error")) or ErrorInfo(
        "RunCancelledError", f"run {data['run_id']} was cancelled"
    )
    raise ChildRunFailed(str(data["run_id"]), error)
