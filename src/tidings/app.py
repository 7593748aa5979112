"""The Tidings application: a façade over the kernel and the notification client.

:class:`Tidings` is what users hold. It checks settings, then composes two parts and
delegates to them: the :class:`~tidings.kernel.Kernel` (tasks, runs, events, store,
clock, wake-up bus), which the engine runs on, and the
:class:`~tidings.notify.client.NotifyClient` (types, recipients, inbox, ``notify``),
whose context extension it installs on the kernel so tasks can call ``ctx.notify``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

import pydantic

from tidings.alerting import Alert
from tidings.bulk import RunOps, bulk_task
from tidings.bulk import replay as replay_run
from tidings.clock import Clock
from tidings.errors import ConfigError, ValidationError
from tidings.events import DEFAULT_MAX_EVENT_BYTES
from tidings.flow import with_flow
from tidings.handle import BroadcastHandle, RunHandle
from tidings.kernel import Kernel
from tidings.kernel.pruning import prune, prune_task
from tidings.kernel.schedules import with_cron
from tidings.notify.answers import Answers
from tidings.notify.broadcast import Broadcasts, Topics
from tidings.notify.client import INBOX_TTL, NotifyClient, NotifyHandle
from tidings.notify.inbox import Deliveries, Inbox, OutboxReader
from tidings.notify.preferences import Preferences, Suppressions
from tidings.notify.recipients import Recipients
from tidings.notify.service import Notifications
from tidings.notify.types import NotificationType
from tidings.notify.urls import PREFERENCES_TTL, RecipientLinks
from tidings.options import (
    Batch,
    CancelOn,
    Debounce,
    KeySpec,
    RateLimit,
    Retry,
    Singleton,
    TriggerRequest,
    as_timedelta,
)
from tidings.providers.base import Provider
from tidings.records import EventReceipt, LogEntry, Run, RunStatus
from tidings.records.notify import Topic
from tidings.records.pruning import PruneReport
from tidings.retention import Retention
from tidings.schedules import Schedules
from tidings.settings import (
    default_database_url,
    default_lease,
    env_public_url,
    env_secret_key,
    resolve_database_url,
    resolve_environment,
    validate_environment,
)
from tidings.store import Store
from tidings.tasks import TaskDef, TaskFn, make_task

if TYPE_CHECKING:
    from tidings.engine.worker import Worker
    from tidings.settings import ServerSettings

F = TypeVar("F", bound=TaskFn)


class Tidings:
    """A tidings application: its tasks, its database and the client API.

    Attributes:
        kernel: what the engine and the notification service share (tasks, runs,
            events, store, clock, wake-up bus); settings below read and write it.
        notifications: the notification service (types, templates, providers).
        recipients: ``app.recipients``: recipients and their push tokens.
        preferences: per recipient, type and channel opt-ins.
        suppressions: addresses that must not be sent to.
        inbox: each recipient's in-app notifications.
        outbox: messages captured by the outbox provider.
        deliveries: the delivery log.
        runs: ``app.runs``: cancel or replay every run a filter matches (bulk actions).
    """

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
        public_url: str | None = None,
        alerts: Sequence[Alert] | None = None,
        recipient_key: str | None = None,
        retention: Retention | None = None,
    ) -> None:
        """``retention`` (default :class:`Retention`'s periods; also ``[retention]`` in
        tidings.toml) is how long finished runs, events, deliveries, outbox and inbox rows
        are kept before the built-in ``tidings.prune`` task deletes them.

        Args (notifications): ``templates`` is the templates root (``<type>/<locale>/``
        folders); ``default_locale`` the locale every missing template falls back to;
        ``channels`` maps ``email``/``push``/``sms`` to an ordered failover list of
        providers (default: the outbox); ``secret_key`` signs inbox tokens (default
        ``$TIDINGS_SECRET_KEY``; outside production one is generated and stored).
        ``sandbox`` (None: on in every environment but production) sends email, push and
        SMS to the outbox unless the recipient id or address is in ``sandbox_allow``.
        ``public_url`` (default ``$TIDINGS_PUBLIC_URL``) is the base URL the world reaches
        the tidings server at: emails link to the preference centre and carry one-click
        ``List-Unsubscribe`` there. ``alerts`` lists :class:`~tidings.Alert` rules: run
        failures, failing deliveries, late timers or a queue backlog, sent to an operator
        recipient or a signed webhook at most once per rule's ``every``.
        ``recipient_key`` (a dotted path like ``"userId"``) is where run payloads, events
        and schedules hold the recipient id they are about: ``app.recipients.export`` and
        ``erase`` include those runs."""
        env = resolve_environment(environment)
        lease_value = as_timedelta(lease, "lease") if lease is not None else default_lease()
        if lease_value <= timedelta(0):
            raise ConfigError("lease must be positive")
        if (
            isinstance(max_event_bytes, bool)
            or not isinstance(max_event_bytes, int)
            or (max_event_bytes < 1)
        ):
            raise ConfigError(f"max_event_bytes must be a positive int, got {max_event_bytes!r}")
        self.kernel = Kernel(
            environment=env,
            database_url=resolve_database_url(database_url, env),
            lease=lease_value,
            auto_migrate=auto_migrate,
            idempotency_ttl=as_timedelta(idempotency_ttl, "idempotency_ttl"),
            max_event_bytes=max_event_bytes,
            retention=_retention(retention),
        )
        self._retention_given = retention is not None
        self.kernel.register(prune_task(self.kernel), internal=True)
        self._notify = NotifyClient(
            self.kernel,
            templates=templates,
            default_locale=default_locale,
            channels=channels,
            secret_key=secret_key if secret_key is not None else env_secret_key(),
            sandbox=sandbox,
            sandbox_allow=sandbox_allow,
            public_url=public_url if public_url is not None else env_public_url(),
            alerts=alerts,
            recipient_key=recipient_key,
        )
        self.kernel.extend_context(self._notify.steps)
        self.kernel.register(bulk_task(self.kernel), internal=True)
        self.runs: RunOps = RunOps(self.kernel)
        self.notifications: Notifications = self._notify.notifications
        self.recipients: Recipients = self._notify.recipients
        self.preferences: Preferences = self._notify.preferences
        self.suppressions: Suppressions = self._notify.suppressions
        self.inbox: Inbox = self._notify.inbox
        self.outbox: OutboxReader = self._notify.outbox
        self.deliveries: Deliveries = self._notify.deliveries
        self.topics: Topics = self._notify.topics
        self.broadcasts: Broadcasts = self._notify.broadcasts

    # -- settings (held by the kernel and the notification service) --------------------
    @property
    def environment(self) -> str:
        """The environment's name (``dev``, ``staging``, ``production``...)."""
        return self.kernel.environment

    @property
    def database_url(self) -> str:
        """Where the store is opened on first use."""
        return self.kernel.database_url

    @database_url.setter
    def database_url(self, value: str) -> None:
        self.kernel.database_url = value

    @property
    def lease(self) -> timedelta:
        """How long a claimed run stays claimed without a heartbeat."""
        return self.kernel.lease

    @lease.setter
    def lease(self, value: timedelta) -> None:
        self.kernel.lease = value

    @property
    def auto_migrate(self) -> bool:
        """Migrate the database on first use (else refuse one with pending migrations)."""
        return self.kernel.auto_migrate

    @auto_migrate.setter
    def auto_migrate(self, value: bool) -> None:
        self.kernel.auto_migrate = value

    @property
    def idempotency_ttl(self) -> timedelta:
        """How long idempotency keys, event ids and dedup keys hold."""
        return self.kernel.idempotency_ttl

    @property
    def max_event_bytes(self) -> int:
        """The largest event data accepted (bytes of JSON)."""
        return self.kernel.max_event_bytes

    @property
    def retention(self) -> Retention:
        """How long finished work is kept (set it with ``configure(retention=...)``)."""
        return self.kernel.retention

    @property
    def clock(self) -> Clock:
        """The engine clock (set it with ``configure(clock=...)``)."""
        return self.kernel.clock

    @clock.setter
    def clock(self, value: Clock) -> None:
        self.kernel.clock = value

    @property
    def sandbox(self) -> bool | None:
        """True/False forces the sandbox on/off; None: on except in production."""
        return self.notifications.sandbox

    @sandbox.setter
    def sandbox(self, value: bool | None) -> None:
        self.notifications.sandbox = value

    @property
    def sandbox_allow(self) -> Sequence[str]:
        """Recipient ids and addresses a sandbox still really sends to."""
        return self.notifications.sandbox_allow

    @sandbox_allow.setter
    def sandbox_allow(self, value: Sequence[str]) -> None:
        self.notifications.sandbox_allow = value

    @property
    def sandboxed(self) -> bool:
        """Whether external sends go to the outbox (see ``sandbox``)."""
        return self.notifications.sandboxed

    @property
    def _secret_key(self) -> bytes | None:
        # Set by the settings loader when tidings.toml names the environment's secret.
        return self._notify.secret_key

    @_secret_key.setter
    def _secret_key(self, value: bytes | None) -> None:
        self._notify.secret_key = value

    @property
    def alerts(self) -> tuple[Alert, ...]:
        """The alert rules (set with ``Tidings(alerts=...)`` or ``configure(alerts=...)``)."""
        return tuple(self._notify.alerts.rules.values())

    def configure(
        self,
        *,
        database_url: str | None = None,
        environment: str | None = None,
        lease: timedelta | float | None = None,
        clock: Clock | None = None,
        alerts: Sequence[Alert] | None = None,
        retention: Retention | None = None,
    ) -> Tidings:
        """Change settings after construction (the CLI's flags), before workers start.

        An open store is closed and reopened on next use under the new settings. A new
        environment that still uses the default database follows it to its own file.
        ``clock`` replaces the engine clock, e.g. a :class:`~tidings.clock.ScaledClock`
        so days of engine time pass in minutes (``tidings demo --time-scale``).
        ``alerts`` replaces the alert rules (``[]`` removes them all).
        ``retention`` replaces the retention policy (workers read it at each pass).
        """
        others = any(v is not None for v in (database_url, environment, lease, clock, alerts))
        if self._configure_retention(retention, others):
            return self
        if self.kernel.bus.busy:
            raise ConfigError("configure() cannot change an app whose workers are running")
        kernel = self.kernel
        if clock is not None:
            if not callable(getattr(clock, "now", None)):
                raise ConfigError(f"clock must have a now() method, got {clock!r}")
            kernel.clock = clock
        if lease is not None:
            new_lease = as_timedelta(lease, "lease")
            if new_lease <= timedelta(0):
                raise ConfigError("lease must be positive")
            kernel.lease = new_lease
        if alerts is not None:
            self._notify.alerts.configure(alerts)
        if database_url is None and environment is None:
            return self
        kernel.close_store()
        if environment is not None:
            validate_environment(environment)
            if database_url is None and kernel.database_url == default_database_url(
                kernel.environment
            ):
                kernel.database_url = default_database_url(environment)
            kernel.environment = environment
        if database_url is not None:
            kernel.database_url = database_url
        return self

    def _configure_retention(self, retention: Retention | None, others: bool) -> bool:
        """Apply ``retention`` unless other settings would make configure() refuse (then
        nothing changes); True if it was the only setting given."""
        if retention is None:
            return False
        policy = _retention(retention)
        if others and self.kernel.bus.busy:
            return False  # configure() refuses below: nothing changed
        self.kernel.retention = policy  # safe while workers run: read at each pass
        self._retention_given = True
        return not others

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
        debounce: Debounce | None = None,
        singleton: Singleton | None = None,
        batch: Batch | None = None,
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
        debounce: Debounce | None = None,
        singleton: Singleton | None = None,
        batch: Batch | None = None,
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
            debounce: ``Debounce(period, key=None, max_wait=None, keep="last")``: a burst
                of triggers of one key becomes one run, started ``period`` after the last.
            singleton: ``Singleton(key=None, on_conflict="skip")``: at most one queued,
                running or waiting run per key ("skip" returns it, "cancel" replaces it).
            batch: ``Batch(max_size, timeout, key=None)``: triggers of one key gathered
                into one run of their payloads, started when full or at ``timeout``.
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
            task = with_flow(
                task, concurrency, concurrency_key, rate_limit, debounce, singleton, batch
            )
            self.kernel.register(with_cron(task, cron, timezone, catch_up))
            return func

        return register(fn) if fn is not None else register

    @property
    def tasks(self) -> dict[str, TaskDef]:
        """The app's tasks (the built-in notification tasks are not listed)."""
        return self.kernel.user_tasks

    @property
    def schedules(self) -> Schedules:
        """Dynamic cron schedules: ``create``, ``delete``, ``list`` (and ``_async`` forms)."""
        return Schedules(self.kernel)

    def get_task(self, task: str | Callable[..., Any]) -> TaskDef:
        """The task of an id or a registered function; UnknownTaskError (with a hint)."""
        return self.kernel.get_task(task)

    # -- store -------------------------------------------------------------------------
    @property
    def store(self) -> Store:
        """The database, opened (and migrated unless auto_migrate=False) on first use."""
        return self.kernel.store

    def migrate(self) -> list[str]:
        """Apply pending migrations; return the names applied."""
        return self.kernel.migrate()

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
        self.kernel.close_store()

    async def aclose(self) -> None:
        """Close the providers' connections (on this loop) and the store."""
        await self.notifications.aclose()
        await asyncio.to_thread(self.kernel.close_store)

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
        new = self.kernel.new_run(
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
        run_id, created = self.kernel.create_run(new)
        return RunHandle(self.kernel, run_id, created=created)

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
                new = self.kernel.new_run(
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
        created = self.kernel.create_runs(news)
        return [RunHandle(self.kernel, run_id, created=made) for run_id, made in created]

    async def trigger_many_async(
        self, task: str | Callable[..., Any], payloads: Iterable[Any], **options: Any
    ) -> list[RunHandle]:
        return await asyncio.to_thread(self.trigger_many, task, payloads, **options)

    def trigger_batch(self, requests: Sequence[TriggerRequest]) -> list[RunHandle]:
        """Start one run per request, of any tasks, in one transaction; handles in order.

        All or nothing: every request is validated first and a bad one raises (naming
        its index) with no run created. Idempotency keys work per request as in
        ``trigger`` (a key live for its task, or repeated in the batch, returns that run).
        """
        created = self.kernel.create_batch(requests)
        return [RunHandle(self.kernel, run_id, created=made) for run_id, made in created]

    async def trigger_batch_async(self, requests: Sequence[TriggerRequest]) -> list[RunHandle]:
        return await asyncio.to_thread(self.trigger_batch, requests)

    def reschedule(self, run_id: str, run_at: datetime) -> Run:
        """Move a delayed run that has not started yet to ``run_at`` (aware).

        Raises UnknownRunError if there is no such run, ValidationError if it is not
        a queued run that has never started and is due later.
        """
        return self.kernel.reschedule(run_id, run_at)

    async def reschedule_async(self, run_id: str, run_at: datetime) -> Run:
        return await asyncio.to_thread(self.reschedule, run_id, run_at)

    def get_run(self, run_id: str) -> Run:
        """The run with its steps; UnknownRunError if there is none."""
        return self.kernel.get_run(run_id)

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
        return self.store.runs.newest(task_id=task_id, status=statuses, limit=limit)

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
        return self.store.runs.logs(run_id)

    def cancel(self, run_id: str) -> Run:
        """Cancel a queued, waiting or running run (a running attempt is interrupted).

        A run that has already finished is returned unchanged.
        """
        self.kernel.cancel(run_id)
        return self.get_run(run_id)

    async def cancel_async(self, run_id: str) -> Run:
        return await asyncio.to_thread(self.cancel, run_id)

    def replay(self, run_id: str, from_step: str | None = None, payload: Any = None) -> RunHandle:
        """Start a new run of the same task with the same payload (the source run is
        untouched).

        With ``from_step`` (a step name as ``get_run`` lists it, e.g. ``"check-profile"``
        or ``"page:2"``), the new run starts with copies of the memoized results of the
        steps the source run completed before that one (in the order it first ran
        them): they do not run again, and the new run resumes at that step. A name the
        run has no step of (unknown, or never reached) is a ValidationError listing the
        run's steps, nothing created. ``payload`` replaces the source's payload.
        """
        return replay_run(self.kernel, run_id, from_step, payload)

    async def replay_async(
        self, run_id: str, from_step: str | None = None, payload: Any = None
    ) -> RunHandle:
        return await asyncio.to_thread(self.replay, run_id, from_step, payload)

    # -- retention ---------------------------------------------------------------------
    def prune(
        self, *, dry_run: bool = False, progress: Callable[[str, int], None] | None = None
    ) -> PruneReport:
        """Delete now what :attr:`retention` no longer keeps, as the hourly built-in
        ``tidings.prune`` task does: oldest first, in short transactions of
        ``retention.batch`` rows, never anything an active run needs. ``dry_run``
        counts what would go and deletes nothing. A real pass is recorded
        (:meth:`last_prune`). ``progress(kind, rows)`` is called after each
        transaction."""
        return prune(self.kernel, dry_run=dry_run, on_batch=progress)

    async def prune_async(self, *, dry_run: bool = False) -> PruneReport:
        return await asyncio.to_thread(lambda: self.prune(dry_run=dry_run))

    def last_prune(self) -> PruneReport | None:
        """The latest recorded prune (None if there was none)."""
        return self.store.pruning.last()

    async def last_prune_async(self) -> PruneReport | None:
        return await asyncio.to_thread(self.last_prune)

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
        return self.kernel.send_event(name, data, id=id, ts=ts, deliver_at=deliver_at)

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

    # -- wait tokens and questions -----------------------------------------------------
    def complete_token(self, token_id: str, data: Any = None) -> bool:
        """Complete a wait token (``ctx.create_token``) with ``data`` (JSON) and resume
        the run waiting on it at once.

        True the first time; False if it was already completed or has expired (nothing
        changed), whatever races. UnknownTokenError if there is no such token.
        """
        return self._notify.answers.complete_token(token_id, data)

    async def complete_token_async(self, token_id: str, data: Any = None) -> bool:
        return await asyncio.to_thread(self.complete_token, token_id, data)

    def answer_question(
        self, question_id: str, action: str, *, by: str = "operator", data: Any = None
    ) -> str:
        """Answer a question (``ctx.ask``) as an operator: ``"answered"``, or
        ``"already"`` / ``"closed"`` when an earlier answer or the timeout came first.
        UnknownTokenError for an unknown question or action."""
        outcome, _ = self._notify.answers.answer(
            question_id, action, channel="operator", by=f"operator {by}", data=data
        )
        return outcome

    async def answer_question_async(
        self, question_id: str, action: str, *, by: str = "operator", data: Any = None
    ) -> str:
        return await asyncio.to_thread(
            lambda: self.answer_question(question_id, action, by=by, data=data)
        )

    @property
    def answers(self) -> Answers:
        """Wait tokens and questions: signed links, answers (the server uses it)."""
        return self._notify.answers

    # -- notifications (delegated to the notification client) ---------------------------
    def notification_type(
        self,
        id: str,
        *,
        channels: Sequence[str],
        critical: bool = False,
        templates: str | Path | None = None,
        data_model: type[pydantic.BaseModel] | None = None,
    ) -> NotificationType:
        """Declare a notification type.

        Args:
            id: its name, also its folder under the templates root.
            channels: where it goes: any of ``in_app``, ``email``, ``push``, ``sms``.
            critical: ignore opt-outs and quiet hours (suppressed addresses still hold).
            templates: a templates root of its own (holding ``<id>/<locale>/...``).
            data_model: a pydantic model ``data`` must match (checked on notify).
        """
        return self._notify.notifications.register(
            id, channels=channels, critical=critical, templates=templates, data_model=data_model
        )

    @overload
    def notify(
        self,
        type: str,
        *,
        to: str,
        data: Any = None,
        channels: Sequence[str] | None = None,
        dedup_key: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> NotifyHandle: ...

    @overload
    def notify(
        self,
        type: str,
        *,
        to: Topic | list[str] | tuple[str, ...],
        data: Any = None,
        channels: Sequence[str] | None = None,
        dedup_key: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> BroadcastHandle: ...

    def notify(
        self,
        type: str,
        *,
        to: str | Topic | Sequence[str],
        data: Any = None,
        channels: Sequence[str] | None = None,
        dedup_key: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> NotifyHandle | BroadcastHandle:
        """Send a notification from outside a task, as a durable run of ``tidings.notify``.

        ``to`` a :class:`~tidings.Topic` or a list of recipient ids makes a broadcast:
        its audience (the topic's subscribers now, or the list with each id once) is
        recorded with one run of ``tidings.broadcast``, which routes it a page at a
        time, every recipient by the same rules as a single notification. Returns a
        :class:`~tidings.handle.BroadcastHandle`; follow it with ``app.broadcasts.get``.
        An unknown recipient in the list is an error, nothing recorded.

        The call is checked now (unknown type or recipient, data not matching the type's
        model, a channel the type does not declare: an error, nothing recorded). With a
        ``dedup_key``, repeating the call within the idempotency window returns the first
        run and sends nothing again; without one, every call is a new notification.
        Returns a handle whose ``result()`` is the :class:`NotifyResult`.
        """
        return self._notify.notify(
            type, to=to, data=data, channels=channels, dedup_key=dedup_key, tags=tags
        )

    async def notify_async(self, type: str, **options: Any) -> NotifyHandle | BroadcastHandle:
        return await self._notify.notify_async(type, **options)

    def signing_secret(self) -> bytes:
        """The environment's signing secret: ``secret_key`` / ``$TIDINGS_SECRET_KEY``, or
        outside production one generated once and kept in the database (so every process
        sharing it agrees). Production without one is a ConfigError."""
        return self._notify.signing_secret()

    def inbox_token(self, recipient_id: str, ttl: timedelta = INBOX_TTL) -> str:
        """A signed token granting the browser one recipient's inbox in this environment."""
        return self._notify.inbox_token(recipient_id, ttl)

    def verify_inbox_token(self, token: str) -> str:
        """The recipient id an inbox token grants; InvalidTokenError if it is not valid."""
        return self._notify.verify_inbox_token(token)

    def preferences_url(self, recipient_id: str, ttl: timedelta = PREFERENCES_TTL) -> str:
        """A signed link to the recipient's preference centre (``GET /preferences``),
        valid for ``ttl``: absolute with ``public_url``, else the path alone."""
        return self._notify.preferences_url(recipient_id, ttl)

    async def preferences_url_async(
        self, recipient_id: str, ttl: timedelta = PREFERENCES_TTL
    ) -> str:
        return await asyncio.to_thread(self._notify.preferences_url, recipient_id, ttl)

    @property
    def links(self) -> RecipientLinks:
        """Signs and checks preference-centre and unsubscribe links (the server uses it)."""
        return self._notify.links

    async def inbox_token_async(self, recipient_id: str, ttl: timedelta = INBOX_TTL) -> str:
        return await self._notify.inbox_token_async(recipient_id, ttl)

    async def verify_inbox_token_async(self, token: str) -> str:
        return await self._notify.verify_inbox_token_async(token)

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
        """A worker of this app (run it with ``await worker.run()``); when the last one
        stops, the providers' connections are closed."""
        from tidings.engine.worker import Worker

        options.setdefault("on_stopped", self.notifications.aclose)
        return Worker(self.kernel, concurrency=concurrency, queues=queues, **options)

    def run_worker(
        self, concurrency: int = 10, queues: Sequence[str] | None = None, **options: Any
    ) -> None:
        """Run a worker until SIGTERM or SIGINT, then drain (blocking)."""
        worker = self.worker(concurrency, queues, **options)
        asyncio.run(worker.run(install_signal_handlers=True))


def _retention(value: object) -> Retention:
    if value is None:
        return Retention()
    if not isinstance(value, Retention):
        raise ConfigError(f"retention must be a tidings.Retention, got {type(value).__name__}")
    return value


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
