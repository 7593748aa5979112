"""The Tidings application: task registry and client API."""

from __future__ import annotations

import asyncio
import difflib
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

from tidings import telemetry
from tidings.clock import Clock, SystemClock
from tidings.errors import (
    ConfigError,
    DuplicateTaskError,
    UnknownRunError,
    UnknownTaskError,
    ValidationError,
)
from tidings.events import DEFAULT_MAX_EVENT_BYTES, build_event, cancel_keys
from tidings.flow import KeySpec, run_keys, with_flow
from tidings.handle import RunHandle
from tidings.ids import new_id
from tidings.limits import check_delay_end, check_event_fields, check_run_fields, check_timestamp
from tidings.notify.client import INTERNAL_TASKS, NotifyClient
from tidings.notify.sandbox import check_allow_list
from tidings.options import CancelOn, RateLimit, Retry, as_timedelta
from tidings.providers.base import Provider
from tidings.records import EventReceipt, LogEntry, Run, RunStatus
from tidings.schedules import Schedules, with_cron
from tidings.store import Store, open_store, redact_url
from tidings.store.base import CancelKey, NewEvent, NewRun
from tidings.tasks import TaskDef, TaskFn, make_task

if TYPE_CHECKING:
    from tidings.engine.runtime import Runtime
    from tidings.engine.worker import Worker
    from tidings.server.settings import ServerSettings

F = TypeVar("F", bound=TaskFn)
_ENVIRONMENT = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def _env_seconds(name: str, default: timedelta) -> timedelta:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        seconds = float(raw)
    except ValueError:
        raise ConfigError(f"${name} must be a number of seconds, got {raw!r}") from None
    if seconds <= 0:
        raise ConfigError(f"${name} must be positive, got {raw!r}")
    return timedelta(seconds=seconds)


def validate_environment(name: str) -> str:
    """Return ``name`` if it is a valid environment name, else raise ConfigError."""
    if not isinstance(name, str) or not _ENVIRONMENT.match(name):
        raise ConfigError(
            f"environment name {name!r} is invalid: use lowercase letters, digits and '-' "
            "(dev, staging, production, preview-<name>)"
        )
    return name


def default_database_url(environment: str) -> str:
    """Each environment has its own embedded database by default."""
    return f"sqlite:///.tidings/{environment}.db"


class Tidings(NotifyClient):
    """A tidings application: its tasks, its database and the client API."""

    def __init__(
        self,
        database_url: str | None = None,
        *,
        environment: str | None = None,
        lease: timedelta | float | None = None,
        auto_migrate: bool = True,
        idempotency_ttl: timedelta | float = timedelta(hours=24),
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        templates: str | Path | None = None,
        default_locale: str = "en",
        channels: Mapping[str, Sequence[Provider]] | None = None,
        secret_key: str | bytes | None = None,
        sandbox: bool | None = None,
        sandbox_allow: Sequence[str] = (),
    ) -> None:
        """Args (notifications): ``templates`` is the templates root (``<type>/<locale>/``
        folders); ``default_locale`` the locale every missing template falls back to;
        ``channels`` maps ``email``/``push``/``sms`` to an ordered failover list of
        providers (default: the outbox); ``secret_key`` signs inbox tokens (default
        ``$TIDINGS_SECRET_KEY``; outside production one is generated and stored).
        ``sandbox`` (None: on in every environment but production) sends email, push and
        SMS to the outbox unless the recipient id or address is in ``sandbox_allow``."""
        env = validate_environment(environment or os.environ.get("TIDINGS_ENV") or "dev")
        self.environment = env
        self.database_url = (
            database_url or os.environ.get("TIDINGS_DATABASE_URL") or default_database_url(env)
        )
        self.lease = (
            as_timedelta(lease, "lease")
            if lease is not None
            else _env_seconds("TIDINGS_LEASE_SECONDS", timedelta(seconds=30))
        )
        if self.lease <= timedelta(0):
            raise ConfigError("lease must be positive")
        self.idempotency_ttl = as_timedelta(idempotency_ttl, "idempotency_ttl")
        self.auto_migrate = auto_migrate
        if (
            isinstance(max_event_bytes, bool)
            or not isinstance(max_event_bytes, int)
            or (max_event_bytes < 1)
        ):
            raise ConfigError(f"max_event_bytes must be a positive int, got {max_event_bytes!r}")
        self.max_event_bytes = max_event_bytes
        self.clock: Clock = SystemClock()
        self._tasks: dict[str, TaskDef] = {}
        self._store: Store | None = None
        self._store_lock = threading.Lock()
        self._workers: set[Worker] = set()
        self._runtimes: set[Runtime] = set()
        self._init_notify(templates, default_locale, channels, secret_key)
        self.sandbox = sandbox
        self.sandbox_allow = check_allow_list(sandbox_allow)

    def configure(
        self,
        *,
        database_url: str | None = None,
        environment: str | None = None,
        lease: timedelta | float | None = None,
        clock: Clock | None = None,
    ) -> Tidings:
        """Change settings after construction (the CLI's flags), before workers start.

        An open store is closed and reopened on next use under the new settings. A new
        environment that still uses the default database follows it to its own file.
        ``clock`` replaces the engine clock, e.g. a :class:`~tidings.clock.ScaledClock`
        so days of engine time pass in minutes (``tidings demo --time-scale``).
        """
        if self._workers or self._runtimes:
            raise ConfigError("configure() cannot change an app whose workers are running")
        if clock is not None:
            if not callable(getattr(clock, "now", None)):
                raise ConfigError(f"clock must have a now() method, got {clock!r}")
            self.clock = clock
        if lease is not None:
            new_lease = as_timedelta(lease, "lease")
            if new_lease <= timedelta(0):
                raise ConfigError("lease must be positive")
            self.lease = new_lease
        if database_url is None and environment is None:
            return self
        self._close_store()
        if environment is not None:
            validate_environment(environment)
            if database_url is None and self.database_url == default_database_url(self.environment):
                self.database_url = default_database_url(environment)
            self.environment = environment
        if database_url is not None:
            self.database_url = database_url
        return self

    # -- registry ----------------------------------------------------------------------
    @overload
    def task(self, fn: F, /) -> F: ...

    @overload
    def task(
        self,
        fn: None = None,
        /,
        *,
        id: str | None = None,
        cron: str | None = None,
        timezone: str = "UTC",
        catch_up: str = "latest",
        retry: Retry | None = None,
        queue: str = "default",
        priority: int = 0,
        timeout: timedelta | float | None = None,
        on_event: str | Sequence[str] | None = None,
        cancel_on: Sequence[CancelOn] = (),
        concurrency: int | None = None,
        concurrency_key: KeySpec | None = None,
        rate_limit: RateLimit | None = None,
    ) -> Callable[[F], F]: ...

    def task(
        self,
        fn: F | None = None,
        /,
        *,
        id: str | None = None,
        cron: str | None = None,
        timezone: str = "UTC",
        catch_up: str = "latest",
        retry: Retry | None = None,
        queue: str = "default",
        priority: int = 0,
        timeout: timedelta | float | None = None,
        on_event: str | Sequence[str] | None = None,
        cancel_on: Sequence[CancelOn] = (),
        concurrency: int | None = None,
        concurrency_key: KeySpec | None = None,
        rate_limit: RateLimit | None = None,
    ) -> F | Callable[[F], F]:
        """Register an ``async def fn(ctx, payload)`` as a task (usable bare or with options).

        Args:
            id: the task id; default the function name with ``_`` turned into ``-``.
            cron: a static schedule (five fields or ``@hourly``...): one run per tick;
                see ``app.schedules`` for dynamic ones.
            timezone: IANA timezone ``cron`` is read in (DST as cron daemons do).
            catch_up: after downtime run the ``latest`` missed tick, ``all``, or ``none``.
            retry: retry policy; default ``Retry()`` (3 attempts per step).
            queue: workers started with ``queues=`` only run tasks of those queues.
            priority: higher runs first among runs due at the same time.
            timeout: longest wall time of one attempt.
            on_event: event name(s); each such event starts a run with its data as payload.
            cancel_on: ``CancelOn(event, match={event_path: payload_path})`` items; a
                matching event cancels queued and waiting runs (a running one at its
                next step).
            concurrency: most RUNNING runs of this task at once, across all workers
                (waiting runs hold no slot; runs over it stay queued).
            concurrency_key: apply ``concurrency`` per key value: a dotted path into the
                payload (``"customer.id"``) or ``callable(payload) -> str``.
            rate_limit: ``RateLimit(limit, period, key=None)``: at most ``limit`` starts
                per ``period`` (per key value); runs over it are delayed, never dropped.
        """

        def register(func: F) -> F:
            task = make_task(
                func,
                id=id,
                retry=retry,
                queue=queue,
                priority=priority,
                timeout=timeout,
                on_event=on_event,
                cancel_on=cancel_on,
            )
            task = with_flow(task, concurrency, concurrency_key, rate_limit)
            task = with_cron(task, cron, timezone, catch_up)
            existing = self._tasks.get(task.id)
            if existing is not None and existing.fn is not func:
                raise DuplicateTaskError(
                    f"task id {task.id!r} is already used by "
                    f"{existing.fn.__module__}.{existing.fn.__qualname__}; "
                    "give one of them another id"
                )
            self._tasks[task.id] = task
            return func

        return register(fn) if fn is not None else register

    @property
    def tasks(self) -> dict[str, TaskDef]:
        """The app's tasks (the built-in notification tasks are not listed)."""
        return {k: t for k, t in self._tasks.items() if k not in INTERNAL_TASKS}

    @property
    def schedules(self) -> Schedules:
        """Dynamic cron schedules: ``create``, ``delete``, ``list`` (and ``_async`` forms)."""
        return Schedules(self)

    def get_task(self, task: str | Callable[..., Any]) -> TaskDef:
        if callable(task) and not isinstance(task, str):
            for t in self._tasks.values():
                if t.fn is task:
                    return t
            raise UnknownTaskError(f"{getattr(task, '__name__', task)!r} is not a task of this app")
        found = self._tasks.get(task)
        if found is None:
            hint = difflib.get_close_matches(str(task), self.tasks, n=1)
            known = ", ".join(sorted(self.tasks)) or "none"
            raise UnknownTaskError(
                f"unknown task {task!r}"
                + (f" (did you mean {hint[0]!r}?)" if hint else f"; registered tasks: {known}")
            )
        return found

    # -- store -------------------------------------------------------------------------
    @property
    def store(self) -> Store:
        """The database, opened (and migrated unless auto_migrate=False) on first use."""
        if self._store is None:
            with self._store_lock:
                if self._store is None:
                    store = open_store(self.database_url)
                    try:
                        if self.auto_migrate:
                            store.migrate()
                        elif pending := store.pending_migrations():
                            raise ConfigError(
                                f"the database at {redact_url(self.database_url)} needs migrations "
                                f"({', '.join(pending)}): run `tidings migrate`"
                            )
                    except BaseException:
                        store.close()
                        raise
                    self._store = store
        return self._store

    def migrate(self) -> list[str]:
        """Apply pending migrations; return the names applied."""
        store = open_store(self.database_url)
        try:
            return store.migrate()
        finally:
            store.close()

    def close(self) -> None:
        """Close the providers' connections and the store (reopened on next use).

        Called from inside a running event loop, providers are closed in a helper
        thread (their pooled connections are dropped); prefer :meth:`aclose` there.
        """
        if self.notifications.configured():
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                asyncio.run(self.notifications.aclose())
            else:
                closer = threading.Thread(target=asyncio.run, args=(self.notifications.aclose(),))
                closer.start()
                closer.join()
        self._close_store()

    async def aclose(self) -> None:
        """Close the providers' connections (on this loop) and the store."""
        await self.notifications.aclose()
        await asyncio.to_thread(self._close_store)

    def _close_store(self) -> None:
        with self._store_lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def _runtime(self, sync_threads: int = 32) -> Runtime:
        from tidings.engine.runtime import Runtime

        return Runtime(
            app=self,
            store=self.store,
            clock=self.clock,
            tasks=self._tasks,
            environment=self.environment,
            lease=self.lease,
            sync_threads=sync_threads,
        )

    # -- client API --------------------------------------------------------------------
    def trigger(
        self,
        task: str | Callable[..., Any],
        payload: Any = None,
        *,
        idempotency_key: str | None = None,
        delay: timedelta | float | None = None,
        run_at: datetime | None = None,
        priority: int | None = None,
        queue: str | None = None,
        tags: Sequence[str] | None = None,
        concurrency_key: str | None = None,
    ) -> RunHandle:
        """Start a run of ``task`` with ``payload``; returns at once with a handle.

        With an ``idempotency_key`` already used for this task within the app's
        ``idempotency_ttl`` (24 h by default), the existing run is returned instead.
        ``concurrency_key`` replaces the key the task's ``concurrency_key`` would compute.
        """
        new = self._new_run(
            task,
            payload,
            idempotency_key=idempotency_key,
            delay=delay,
            run_at=run_at,
            priority=priority,
            queue=queue,
            tags=tags,
            concurrency_key=concurrency_key,
        )
        run_id, created = self.store.create_run(new, self.clock.now(), self.idempotency_ttl)
        if created:
            self._wake_workers()
        return RunHandle(self, run_id, created=created)

    async def trigger_async(
        self, task: str | Callable[..., Any], payload: Any = None, **options: Any
    ) -> RunHandle:
        return await asyncio.to_thread(self.trigger, task, payload, **options)

    def trigger_many(
        self,
        task: str | Callable[..., Any],
        payloads: Iterable[Any],
        *,
        idempotency_keys: Sequence[str | None] | None = None,
        delay: timedelta | float | None = None,
        run_at: datetime | None = None,
        priority: int | None = None,
        queue: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> list[RunHandle]:
        """Start one run of ``task`` per payload, all in one transaction; handles in order.

        Every payload is validated before anything is written: a bad one raises (naming
        its index) and creates no run at all. ``idempotency_keys`` gives one key (or
        None) per payload; a key already live for the task, or repeated in the list,
        returns the run holding it, as ``trigger`` does (its handle's ``created`` is
        False). The other options apply to every run. Much faster than a loop of
        ``trigger`` calls: one commit (and one wake-up) for the whole batch.
        """
        definition = self.get_task(task)
        items = list(payloads)
        if idempotency_keys is None:
            keys: list[str | None] = [None] * len(items)
        elif isinstance(idempotency_keys, str) or len(idempotency_keys) != len(items):
            raise ValidationError(
                "idempotency_keys must be a list with one key (or None) per payload: "
                f"{len(items)} payloads"
            )
        else:
            keys = list(idempotency_keys)
        news = []
        for i, (payload, key) in enumerate(zip(items, keys, strict=True)):
            try:
                new = self._new_run(
                    definition.id,
                    payload,
                    idempotency_key=key,
                    delay=delay,
                    run_at=run_at,
                    priority=priority,
                    queue=queue,
                    tags=tags,
                )
            except ValidationError as exc:
                raise type(exc)(f"payloads[{i}]: {exc}") from None
            news.append(new)
        if not news:
            return []
        created = self.store.create_runs(news, self.clock.now(), self.idempotency_ttl)
        if any(made for _, made in created):
            self._wake_workers()
        return [RunHandle(self, run_id, created=made) for run_id, made in created]

    async def trigger_many_async(
        self, task: str | Callable[..., Any], payloads: Iterable[Any], **options: Any
    ) -> list[RunHandle]:
        return await asyncio.to_thread(self.trigger_many, task, payloads, **options)

    def _new_run(
        self,
        task: str | Callable[..., Any],
        payload: Any,
        *,
        idempotency_key: str | None,
        delay: timedelta | float | None,
        run_at: datetime | None,
        priority: int | None,
        queue: str | None,
        tags: Sequence[str] | None,
        replay_of: str | None = None,
        parent_run_id: str | None = None,
        concurrency_key: str | None = None,
    ) -> NewRun:
        definition = self.get_task(task)
        encoded = definition.encode_payload(payload)
        now = self.clock.now()
        when = _resolve_run_at(now, delay, run_at)
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
        return NewRun(
            id=new_id("run"),
            task_id=definition.id,
            queue=queue or definition.queue,
            priority=definition.priority if priority is None else priority,
            payload=encoded,
            run_at=when,
            idempotency_key=idempotency_key,
            tags=tuple(tags or ()),
            replay_of=replay_of,
            parent_run_id=parent_run_id,
            cancel_keys=cancel_keys(definition, encoded),
            concurrency_key=flow_key,
            rate_key=rate_key,
            traceparent=telemetry.current_traceparent(),
        )

    def get_run(self, run_id: str) -> Run:
        """The run with its steps; UnknownRunError if there is none."""
        run = self.store.get_run(run_id)
        if run is None:
            raise UnknownRunError(f"no run with id {run_id!r}")
        return run

    async def get_run_async(self, run_id: str) -> Run:
        return await asyncio.to_thread(self.get_run, run_id)

    def list_runs(
        self,
        task_id: str | None = None,
        status: RunStatus | str | Sequence[RunStatus | str] | None = None,
        limit: int = 50,
    ) -> list[Run]:
        """Runs, newest first (without their steps: ``get_run`` has them)."""
        statuses = _statuses(status)
        if not isinstance(limit, int) or limit < 1:
            raise ValidationError(f"limit must be a positive int, got {limit!r}")
        return self.store.list_runs(task_id=task_id, status=statuses, limit=limit)

    async def list_runs_async(
        self,
        task_id: str | None = None,
        status: RunStatus | str | Sequence[RunStatus | str] | None = None,
        limit: int = 50,
    ) -> list[Run]:
        return await asyncio.to_thread(self.list_runs, task_id, status, limit)

    def get_logs(self, run_id: str) -> list[LogEntry]:
        """Lines the run wrote through ``ctx.logger``, oldest first."""
        self.get_run(run_id)
        return self.store.get_logs(run_id)

    def cancel(self, run_id: str) -> Run:
        """Cancel a queued, waiting or running run (a running attempt is interrupted).

        A run that has already finished is returned unchanged.
        """
        status = self.store.cancel_run(run_id, self.clock.now())
        if status is None:
            raise UnknownRunError(f"no run with id {run_id!r}")
        if status is RunStatus.CANCELLED:
            for rt in list(self._runtimes):
                rt.interrupt_threadsafe(run_id, "cancelled")
        return self.get_run(run_id)

    async def cancel_async(self, run_id: str) -> Run:
        return await asyncio.to_thread(self.cancel, run_id)

    def replay(self, run_id: str) -> RunHandle:
        """Start a new run of the same task with the same payload."""
        old = self.get_run(run_id)
        task = self.get_task(old.task_id)
        new = self._new_run(
            task.id,
            old.payload,
            idempotency_key=None,
            delay=None,
            run_at=None,
            priority=old.priority,
            queue=old.queue,
            tags=old.tags,
            replay_of=old.id,
        )
        run_id, _ = self.store.create_run(new, self.clock.now(), self.idempotency_ttl)
        self._wake_workers()
        return RunHandle(self, run_id)

    async def replay_async(self, run_id: str) -> RunHandle:
        return await asyncio.to_thread(self.replay, run_id)

    # -- events ------------------------------------------------------------------------
    def send_event(
        self,
        name: str,
        data: Any = None,
        *,
        id: str | None = None,
        ts: datetime | None = None,
        deliver_at: datetime | None = None,
    ) -> EventReceipt:
        """Send an event: start a run of every task with ``on_event=name``, cancel runs
        whose ``cancel_on`` matches, and resume every run waiting for it.

        An ``id`` already sent is accepted once: the repeat does nothing and returns the
        first receipt. Data must be JSON, at most ``max_event_bytes``. With a future
        ``deliver_at`` (aware datetime) the event is kept and delivered then by a
        worker's scheduler; its receipt lists no runs yet.
        """
        event, runs, cancels = self._build_event(name, data, id, ts)
        if deliver_at is not None:
            check_timestamp(deliver_at, "deliver_at")
            now = self.clock.now()
            if deliver_at > now:
                return self._send_later(event, deliver_at, now)
        sent = self.store.send_event(event, runs, cancels, self.clock.now(), self.idempotency_ttl)
        for run_id in sent.cancelled:
            for rt in list(self._runtimes):
                rt.interrupt_threadsafe(run_id, "cancelled")
        if sent.run_ids or sent.resumed:
            self._wake_workers()
        return EventReceipt(sent.event_id, sent.run_ids, sent.accepted)

    async def send_event_async(
        self,
        name: str,
        data: Any = None,
        *,
        id: str | None = None,
        ts: datetime | None = None,
        deliver_at: datetime | None = None,
    ) -> EventReceipt:
        return await asyncio.to_thread(
            self.send_event, name, data, id=id, ts=ts, deliver_at=deliver_at
        )

    def _send_later(self, event: NewEvent, deliver_at: datetime, now: datetime) -> EventReceipt:
        if self.store.schedule_event(event, deliver_at, now):
            return EventReceipt(event.id, (), True)
        delivered = self.store.get_event(event.id)
        if delivered is None:  # still waiting for its delivery time
            return EventReceipt(event.id, (), False)
        # a seen id changes nothing and answers with the first receipt
        first = self.store.send_event(delivered[0], (), (), now, self.idempotency_ttl)
        return EventReceipt(event.id, first.run_ids, False)

    def _build_event(
        self, name: str, data: Any, event_id: str | None, ts: datetime | None
    ) -> tuple[NewEvent, list[NewRun], list[CancelKey]]:
        check_event_fields(name, event_id, ts)

        def run_for(task: TaskDef, payload: Any) -> NewRun:
            return self._new_run(
                task.id,
                payload,
                idempotency_key=None,
                delay=None,
                run_at=None,
                priority=None,
                queue=None,
                tags=None,
            )

        return build_event(
            self._tasks.values(),
            name,
            data,
            event_id=event_id,
            ts=ts or self.clock.now(),
            max_bytes=self.max_event_bytes,
            new_run=run_for,
        )

    @property
    def sandboxed(self) -> bool:
        """Whether external sends go to the outbox (see ``sandbox``)."""
        return self.sandbox if self.sandbox is not None else self.environment != "production"

    # -- HTTP ----------------------------------------------------------------------------
    def asgi(
        self, settings: ServerSettings | None = None, *, dashboard_envs: Sequence[str] | None = None
    ) -> Any:
        """The ASGI application (the HTTP API) for any ASGI server, e.g. uvicorn.

        ``settings`` default to ``ServerSettings.from_env()`` ($TIDINGS_MAX_BODY_BYTES,
        $TIDINGS_RATE_LIMIT, ...). ``dashboard_envs`` names other environments whose
        dashboards it also serves at ``/dashboard/<name>/`` (default
        ``$TIDINGS_DASHBOARD_ENVS``, else ``dashboard_environments`` in tidings.toml).
        """
        from tidings.server import create_app

        return create_app(self, settings, dashboard_envs=dashboard_envs)

    # -- worker ------------------------------------------------------------------------
    def worker(
        self, concurrency: int = 10, queues: Sequence[str] | None = None, **options: Any
    ) -> Worker:
        from tidings.engine.worker import Worker

        return Worker(self, concurrency=concurrency, queues=queues, **options)

    def run_worker(
        self, concurrency: int = 10, queues: Sequence[str] | None = None, **options: Any
    ) -> None:
        """Run a worker until SIGTERM or SIGINT, then drain (blocking)."""
        worker = self.worker(concurrency, queues, **options)
        asyncio.run(worker.run(install_signal_handlers=True))

    def _wake_workers(self) -> None:
        for worker in list(self._workers):
            worker.wake()


def _resolve_run_at(
    now: datetime, delay: timedelta | float | None, run_at: datetime | None
) -> datetime:
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


def _statuses(status: RunStatus | str | Sequence[RunStatus | str] | None) -> list[RunStatus] | None:
    if status is None:
        return None
    values = [status] if isinstance(status, str | RunStatus) else list(status)
    result = []
    for v in values:
        try:
            result.append(RunStatus(str(v).upper()))
        except ValueError:
            choices = ", ".join(s.value for s in RunStatus)
            raise ValidationError(f"unknown run status {v!r}; use one of {choices}") from None
    return result
