"""The kernel: what the engine and the notification service share below the app.

One :class:`Kernel` per app holds the task registry, the settings runs are made under
(environment, lease, idempotency window, event size limit), the engine clock, the
lazily opened store and the wake-up bus. It makes runs and events (validated, ready for
the store), writes them, and wakes the workers of this process. The public
:class:`~tidings.Tidings` is a façade over it; the engine, the notification service and
the providers' tasks take the kernel and never the app.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from tidings import telemetry
from tidings.clock import Clock, DatabaseClock
from tidings.errors import (
    ConfigError,
    DuplicateTaskError,
    UnknownRunError,
    UnknownTaskError,
    ValidationError,
)
from tidings.events import build_event, cancel_keys
from tidings.flow import run_gate, run_keys
from tidings.ids import new_id
from tidings.limits import check_delay_end, check_event_fields, check_run_fields, check_timestamp
from tidings.options import TriggerRequest, as_timedelta
from tidings.records import EventReceipt, Run, RunStatus
from tidings.retention import Retention
from tidings.store import Store, open_store, redact_url
from tidings.store.events import NewEvent
from tidings.store.runs import CancelKey, Gate, NewRun
from tidings.tasks import TaskDef

from .bus import WakeBus
from .extension import ContextExtension


class Kernel:
    """Tasks, settings, clock, store and wake-up bus of one app.

    Attributes:
        environment: the environment's name (already validated by the app).
        database_url: where the store is opened on first use.
        lease: how long a claimed run stays claimed without a heartbeat.
        auto_migrate: migrate the database when the store is opened (else refuse to
            open one with pending migrations).
        idempotency_ttl: how long an idempotency key, event id or dedup key holds.
        max_event_bytes: the largest event data accepted, in bytes of JSON.
        retention: how long finished work is kept (the built-in ``tidings.prune``).
        clock: the engine clock every part reads time from: by default a
            :class:`~tidings.clock.DatabaseClock`, kept on the database's time by the
            store once opened (replaced by TestEngine and ``app.configure(clock=...)``).
        tasks: every registered task by id, the built-in ones included.
        bus: the workers and runtimes of this process (:class:`WakeBus`).
    """

    def __init__(
        self,
        *,
        environment: str,
        database_url: str,
        lease: timedelta,
        auto_migrate: bool,
        idempotency_ttl: timedelta,
        max_event_bytes: int,
        clock: Clock | None = None,
        retention: Retention | None = None,
    ) -> None:
        self.environment = environment
        self.retention = retention if retention is not None else Retention()
        self.database_url = database_url
        self.lease = lease
        self.auto_migrate = auto_migrate
        self.idempotency_ttl = idempotency_ttl
        self.max_event_bytes = max_event_bytes
        self.database_clock = DatabaseClock()
        """This host's clock corrected to the database's (kept by the store once open)."""
        self.clock: Clock = clock or self.database_clock
        self.tasks: dict[str, TaskDef] = {}
        self.internal: set[str] = set()
        """Ids of built-in tasks: they run like any other but are not the app's tasks."""
        self.bus = WakeBus()
        self.context_extension: ContextExtension | None = None
        self._store: Store | None = None
        self._store_lock = threading.Lock()

    # -- registry ----------------------------------------------------------------------
    def register(self, task: TaskDef, *, internal: bool = False) -> None:
        """Add ``task``; DuplicateTaskError if its id is taken by another function."""
        existing = self.tasks.get(task.id)
        if existing is not None and existing.fn is not task.fn:
            raise DuplicateTaskError(
                f"task id {task.id!r} is already used by "
                f"{existing.fn.__module__}.{existing.fn.__qualname__}; "
                "give one of them another id"
            )
        self.tasks[task.id] = task
        if internal:
            self.internal.add(task.id)

    def adopt_tasks(self, other: Kernel) -> None:
        """Know every task ``other`` knows and this one does not (the same code,
        deployed to another environment, whose dashboard this process also serves)."""
        for task_id, task in other.tasks.items():
            if task_id not in self.tasks:
                self.tasks[task_id] = task
                if task_id in other.internal:
                    self.internal.add(task_id)

    @property
    def user_tasks(self) -> dict[str, TaskDef]:
        """The registered tasks but the built-in ones."""
        return {k: t for k, t in self.tasks.items() if k not in self.internal}

    def get_task(self, task: str | Callable[..., Any]) -> TaskDef:
        """The task of an id or a registered function; UnknownTaskError (with a hint)."""
        if callable(task) and not isinstance(task, str):
            for t in self.tasks.values():
                if t.fn is task:
                    return t
            raise UnknownTaskError(f"{getattr(task, '__name__', task)!r} is not a task of this app")
        found = self.tasks.get(task)
        if found is None:
            users = self.user_tasks
            hint = difflib.get_close_matches(str(task), users, n=1)
            known = ", ".join(sorted(users)) or "none"
            raise UnknownTaskError(
                f"unknown task {task!r}"
                + (f" (did you mean {hint[0]!r}?)" if hint else f"; registered tasks: {known}")
            )
        return found

    def extend_context(self, extension: ContextExtension) -> None:
        """Install what ``ctx.notify`` and ``ctx.digest`` call (the app does this)."""
        self.context_extension = extension

    # -- store -------------------------------------------------------------------------
    @property
    def store(self) -> Store:
        """The database, opened (and migrated unless auto_migrate is off) on first use."""
        if self._store is None:
            with self._store_lock:
                if self._store is None:
                    self._store = self._open()
        return self._store

    def _open(self) -> Store:
        store = open_store(self.database_url)
        try:
            if self.auto_migrate:
                store.migrate()
            elif pending := store.pending_migrations():
                raise ConfigError(
                    f"the database at {redact_url(self.database_url)} needs migrations "
                    f"({', '.join(pending)}): run `tidings migrate`"
                )
            # On PostgreSQL, leases, due times and every write's `now` are in the
            # database's time, whatever this host's clock says.
            store.keep_time(self.database_clock)
        except BaseException:
            store.close()
            raise
        return store

    def migrate(self) -> list[str]:
        """Apply pending migrations (on a connection of its own); the names applied."""
        store = open_store(self.database_url)
        try:
            return store.migrate()
        finally:
            store.close()

    def close_store(self) -> None:
        """Close the store if open; the next use opens it again (under new settings)."""
        with self._store_lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    # -- wake-up bus -------------------------------------------------------------------
    def wake(self) -> None:
        """Wake this process's workers: runs were made due."""
        self.bus.wake()

    def interrupt(self, run_id: str, reason: str) -> None:
        """Interrupt the attempt of ``run_id`` if it runs in this process."""
        self.bus.interrupt(run_id, reason)

    # -- runs --------------------------------------------------------------------------
    def new_run(
        self,
        task: str | Callable[..., Any],
        payload: Any,
        *,
        idempotency_key: str | None = None,
        delay: timedelta | float | None = None,
        run_at: datetime | None = None,
        priority: int | None = None,
        queue: str | None = None,
        tags: Sequence[str] | None = None,
        replay_of: str | None = None,
        parent_run_id: str | None = None,
        concurrency_key: str | None = None,
        source: str | None = None,
    ) -> NewRun:
        """A run of ``task`` ready to create: payload and options checked, keys computed.

        ``source`` names what caused it (an event id) for a debounced or batched run;
        by default a new trigger id. Raises ValidationError (nothing written) on a bad
        payload or option.
        """
        definition = self.get_task(task)
        encoded = definition.encode_payload(payload)
        now = self.clock.now()
        when = resolve_run_at(now, delay, run_at)
        if idempotency_key is not None and (
            not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= 255
        ):
            raise ValidationError("idempotency_key must be a string of 1 to 255 characters")
        if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)):
            raise ValidationError(f"priority must be an int, got {type(priority).__name__}")
        if tags is not None and (
            isinstance(tags, str) or not all(isinstance(t, str) for t in tags)
        ):
            raise ValidationError("tags must be a list of strings")
        check_run_fields(idempotency_key, tags, queue, concurrency_key)
        flow_key, rate_key = run_keys(definition, encoded, concurrency_key)
        gate = run_gate(definition, encoded, source or new_id("trg"))
        stored = encoded
        if gate is not None and gate.kind != "singleton":
            when = gated_start(definition.id, gate, now, when)
            stored = f"[{encoded}]" if gate.keep == "all" else encoded
        return NewRun(
            id=new_id("run"),
            task_id=definition.id,
            queue=queue or definition.queue,
            priority=definition.priority if priority is None else priority,
            payload=stored,
            run_at=when,
            idempotency_key=idempotency_key,
            tags=tuple(tags or ()),
            replay_of=replay_of,
            parent_run_id=parent_run_id,
            cancel_keys=cancel_keys(definition, encoded),
            concurrency_key=flow_key,
            rate_key=rate_key,
            traceparent=telemetry.current_traceparent(),
            gate=gate,
        )

    def create_run(self, new: NewRun) -> tuple[str, bool]:
        """Write ``new`` (or find the live run holding its idempotency key, or the run a
        debounced, batched or singleton trigger joins) and wake the workers if a run was
        made or moved: (run id, whether it was created)."""
        cancelled: list[str] = []
        now = self.clock.now()
        run_id, created = self.store.runs.create(new, now, self.idempotency_ttl, cancelled)
        self._interrupt_all(cancelled)
        if created or new.gate is not None:  # a full batch is due now
            self.wake()
        return run_id, created

    def create_runs(self, news: Sequence[NewRun]) -> list[tuple[str, bool]]:
        """:meth:`create_run` for many, in one transaction and with one wake-up."""
        cancelled: list[str] = []
        now = self.clock.now()
        created = self.store.runs.create_many(list(news), now, self.idempotency_ttl, cancelled)
        self._interrupt_all(cancelled)
        if any(made for _, made in created) or any(n.gate is not None for n in news):
            self.wake()
        return created

    def _interrupt_all(self, run_ids: Sequence[str]) -> None:
        """Interrupt the attempts of runs cancelled by a singleton trigger (here; other
        processes' workers find out at their next lease renewal)."""
        for run_id in run_ids:
            self.interrupt(run_id, "cancelled")

    def create_batch(self, requests: Sequence[TriggerRequest]) -> list[tuple[str, bool]]:
        """Runs of any tasks, one per request, in one transaction: (run id, created) each.

        All or nothing: every request is checked first and a bad one raises (naming its
        index, ``items[i]``) with no run written. Idempotency keys work per request as
        in :meth:`create_run` (a key live for its task, or repeated in the batch, returns
        that run).
        """
        news = []
        for i, r in enumerate(requests):
            try:
                new = self.new_run(
                    r.task,
                    r.payload,
                    idempotency_key=r.idempotency_key,
                    delay=r.delay,
                    run_at=r.run_at,
                    priority=r.priority,
                    tags=r.tags,
                    concurrency_key=r.concurrency_key,
                )
            except (ValidationError, UnknownTaskError) as exc:
                raise type(exc)(f"items[{i}]: {exc}") from None
            news.append(new)
        return self.create_runs(news) if news else []

    def reschedule(self, run_id: str, run_at: datetime) -> Run:
        """Move a delayed run that has not started yet to ``run_at`` (aware) and wake the
        workers; the run afterwards.

        Raises UnknownRunError if there is no such run, ValidationError if it is not a
        queued run that has never started and is due later.
        """
        now = self.clock.now()
        when = resolve_run_at(now, None, run_at)
        if not self.store.runs.reschedule(run_id, when, now):
            run = self.get_run(run_id)
            raise ValidationError(
                f"run {run_id} cannot be rescheduled: it is {run.status.value}, "
                "not a delayed run that has not started"
            )
        self.wake()
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> Run:
        """The run with its steps; UnknownRunError if there is none."""
        run = self.store.runs.get(run_id)
        if run is None:
            raise UnknownRunError(f"no run with id {run_id!r}")
        return run

    def cancel(self, run_id: str) -> RunStatus:
        """Cancel a run and interrupt its attempt here if it runs; its status after."""
        status = self.store.runs.cancel(run_id, self.clock.now())
        if status is None:
            raise UnknownRunError(f"no run with id {run_id!r}")
        if status is RunStatus.CANCELLED:
            self.interrupt(run_id, "cancelled")
        return status

    # -- events ------------------------------------------------------------------------
    def build_event(
        self, name: str, data: Any, event_id: str | None, ts: datetime | None
    ) -> tuple[NewEvent, list[NewRun], list[CancelKey]]:
        """The event, the runs it starts (``on_event`` tasks) and the cancel keys it
        matches (``cancel_on``), checked and ready for the store."""
        check_event_fields(name, event_id, ts)
        return build_event(
            self.tasks.values(),
            name,
            data,
            event_id=event_id,
            ts=ts or self.clock.now(),
            max_bytes=self.max_event_bytes,
            new_run=lambda task, payload, source: self.new_run(task.id, payload, source=source),
        )

    def send_event(
        self,
        name: str,
        data: Any = None,
        *,
        id: str | None = None,
        ts: datetime | None = None,
        deliver_at: datetime | None = None,
    ) -> EventReceipt:
        """Send an event now, or keep it for ``deliver_at``; see ``Tidings.send_event``."""
        event, runs, cancels = self.build_event(name, data, id, ts)
        if deliver_at is not None:
            check_timestamp(deliver_at, "deliver_at")
            now = self.clock.now()
            if deliver_at > now:
                return self._send_later(event, deliver_at, now)
        sent = self.store.events.send(event, runs, cancels, self.clock.now(), self.idempotency_ttl)
        for run_id in sent.cancelled:
            self.interrupt(run_id, "cancelled")
        if sent.run_ids or sent.resumed:
            self.wake()
        unheard = sent.accepted and not (
            sent.run_ids or sent.resumed or sent.cancelled or self._listened(name)
        )
        warning = (
            f"nothing listens for event {name!r}: no task has on_event={name!r} or a "
            "cancel_on rule for it, and no run was waiting for it; it was recorded and "
            "did nothing"
            if unheard
            else None
        )
        return EventReceipt(sent.event_id, sent.run_ids, sent.accepted, warning)

    def _listened(self, name: str) -> bool:
        """Whether a task declares ``on_event`` or ``cancel_on`` for event ``name``."""
        return any(
            name in task.on_event or any(rule.event == name for rule in task.cancel_on)
            for task in self.tasks.values()
        )

    def _send_later(self, event: NewEvent, deliver_at: datetime, now: datetime) -> EventReceipt:
        if self.store.events.schedule(event, deliver_at, now):
            warning = (
                None
                if self._listened(event.name)
                else f"no task has on_event={event.name!r} or a cancel_on rule for it: at "
                "delivery it will only resume runs then waiting for it"
            )
            return EventReceipt(event.id, (), True, warning)
        delivered = self.store.events.get(event.id)
        if delivered is None:  # still waiting for its delivery time
            return EventReceipt(event.id, (), False)
        # a seen id changes nothing and answers with the first receipt
        first = self.store.events.send(delivered[0], (), (), now, self.idempotency_ttl)
        return EventReceipt(event.id, first.run_ids, False)


def gated_start(task_id: str, gate: Gate, now: datetime, when: datetime) -> datetime:
    """When a new debounced or batched run starts if no trigger joins it."""
    if when > now:
        raise ValidationError(
            f"task {task_id!r} uses {gate.kind}, which decides when its runs start: "
            "trigger it without delay or run_at"
        )
    if gate.max_size == 1:
        return now
    span = gate.period if gate.period is not None else gate.max_wait
    assert span is not None
    return check_delay_end(now, span)


def resolve_run_at(
    now: datetime, delay: timedelta | float | None, run_at: datetime | None
) -> datetime:
    """When a run is due: ``now + delay``, ``run_at`` (aware), or now."""
    if delay is not None and run_at is not None:
        raise ValidationError("give either delay or run_at, not both")
    if delay is not None:
        d = as_timedelta(delay, "delay")
        if d < timedelta(0):
            raise ValidationError(f"delay must not be negative, got {d}")
        return check_delay_end(now, d)
    if run_at is not None:
        return check_timestamp(run_at, "run_at")
    return now
