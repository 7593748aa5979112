"""Operating on many runs at once, and replaying a run from one of its steps.

``app.runs.cancel_many(...)`` and ``app.runs.replay_many(...)`` record a bulk action:
its filter (fixed when it is made: runs created later never match) and one run of the
built-in ``tidings.runs.bulk`` task, in one transaction. That run walks the matching
runs oldest first, :data:`PAGE_SIZE` at a time (each page a step): a page's runs are
cancelled (as ``app.cancel`` does: a running attempt is interrupted, a finished run is
left as it is) or replayed (as ``app.replay`` does, each source run recorded with its
new run), and the action's keyset cursor and counts advance, in one transaction. A page
is acted on only from the page count it was read at, so a worker killed mid-page leaves
the next worker to act on it once: no run is skipped, none cancelled or replayed twice.

``app.replay(run_id, from_step=...)`` makes a new run of the same task whose memoized
results of the steps before ``from_step`` (in the order the source run first ran them)
are copies of the source run's: the new run skips them and resumes at that step.
"""

from __future__ import annotations

import asyncio
import builtins
import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from tidings.errors import (
    UnknownBulkActionError,
    UnknownTaskError,
    ValidationError,
)
from tidings.handle import RunHandle
from tidings.ids import new_id
from tidings.kernel import Kernel, TaskContext
from tidings.limits import check_timestamp
from tidings.options import Retry
from tidings.records import ACTIVE_STATUSES, BulkAction, Run, RunStatus
from tidings.store.bulk import BulkRow, MatchedRun, NewBulkAction, Replay, RunFilter
from tidings.store.runs import NewRun
from tidings.tasks import TaskDef, make_task

BULK_TASK = "tidings.runs.bulk"
PAGE_SIZE = 500
"""Runs acted on per transaction, by default."""
MAX_PAGE_SIZE = 1000
MAX_LIST = 1000

TaskRef = str | Callable[..., Any]
StatusRef = RunStatus | str


# -- filters ---------------------------------------------------------------------------
def _many(value: Any, what: str) -> list[Any] | None:
    if value is None:
        return None
    if isinstance(value, str | RunStatus) or callable(value):
        return [value]
    if not isinstance(value, Sequence) or not value:
        raise ValidationError(f"{what} must be one value or a non-empty list, got {value!r}")
    return list(value)


def _statuses(status: Any) -> tuple[str, ...] | None:
    values = _many(status, "status")
    if values is None:
        return None
    found = []
    for v in values:
        try:
            found.append(RunStatus(str(v).upper()).value)
        except ValueError:
            choices = ", ".join(s.value for s in RunStatus)
            raise ValidationError(f"unknown run status {v!r}; use one of {choices}") from None
    return tuple(dict.fromkeys(found))


def _time(value: Any, what: str) -> datetime | None:
    return None if value is None else check_timestamp(value, what)


def run_filter(
    kernel: Kernel,
    *,
    task: TaskRef | Sequence[TaskRef] | None,
    status: StatusRef | Sequence[StatusRef] | None,
    tags: str | Sequence[str] | None,
    created_after: datetime | None,
    created_before: datetime | None,
    cancel: bool = False,
) -> RunFilter:
    """The filter of these arguments, checked (ValidationError or UnknownTaskError
    naming what is wrong). A cancel filter matches active runs only: without
    ``status`` every queued, running or waiting one."""
    tasks = _many(task, "task")
    task_ids = None if tasks is None else tuple(dict.fromkeys(kernel.get_task(t).id for t in tasks))
    statuses = _statuses(status)
    if cancel:
        active = tuple(s.value for s in ACTIVE_STATUSES)
        if statuses is None:
            statuses = active
        elif finished := [s for s in statuses if s not in active]:
            raise ValidationError(
                f"only queued, running or waiting runs can be cancelled, not {', '.join(finished)}"
            )
    tag_list = _many(tags, "tags")
    if tag_list is not None and not all(isinstance(t, str) and t for t in tag_list):
        raise ValidationError(f"tags must be non-empty strings, got {tag_list!r}")
    after = _time(created_after, "created_after")
    before = _time(created_before, "created_before")
    if after is not None and before is not None and after >= before:
        raise ValidationError(
            f"created_after ({after.isoformat()}) must be before created_before "
            f"({before.isoformat()})"
        )
    return RunFilter(
        tasks=task_ids,
        statuses=statuses,
        tags=None if tag_list is None else tuple(dict.fromkeys(tag_list)),
        created_after=after,
        created_before=before,
    )


def _filter_dict(f: RunFilter) -> dict[str, Any]:
    return {
        "tasks": None if f.tasks is None else list(f.tasks),
        "statuses": None if f.statuses is None else list(f.statuses),
        "tags": None if f.tags is None else list(f.tags),
        "created_after": f.created_after,
        "created_before": f.created_before,
    }


def bulk_record(row: BulkRow) -> BulkAction:
    if row.finished_at is not None:
        status = "completed"
    elif row.run_status == RunStatus.FAILED.value:
        status = "failed"
    elif row.run_status == RunStatus.CANCELLED.value:
        status = "cancelled"
    else:
        status = "running"
    return BulkAction(
        id=row.id,
        kind=row.kind,
        filter=_filter_dict(row.filter),
        total=row.total,
        done=row.done,
        changed=row.changed,
        status=status,
        created_at=row.created_at,
        finished_at=row.finished_at,
        run_id=row.run_id,
    )


# -- app.runs --------------------------------------------------------------------------
class RunOps:
    """``app.runs``: cancel or replay every run a filter matches, as a durable bulk
    action a worker carries out a page at a time (``app.get_run``, ``app.list_runs``,
    ``app.cancel`` and ``app.replay`` act on one run)."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def count(
        self,
        task: TaskRef | Sequence[TaskRef] | None = None,
        status: StatusRef | Sequence[StatusRef] | None = None,
        tags: str | Sequence[str] | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        *,
        cancelling: bool = False,
    ) -> int:
        """How many runs the filter matches now: what ``replay_many`` would go through,
        or with ``cancelling=True`` ``cancel_many`` (active runs only, its rules)."""
        f = run_filter(
            self.kernel, task=task, status=status, tags=tags,
            created_after=created_after, created_before=created_before, cancel=cancelling,
        )  # fmt: skip
        return self.kernel.store.bulk.count(f, self.kernel.clock.now(), BULK_TASK)

    def cancel_many(
        self,
        task: TaskRef | Sequence[TaskRef] | None = None,
        status: StatusRef | Sequence[StatusRef] | None = None,
        tags: str | Sequence[str] | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        *,
        page_size: int = PAGE_SIZE,
    ) -> BulkAction:
        """Cancel every queued, running or waiting run the filter matches (``status``
        narrows it to some of those), each as ``app.cancel`` does: a running attempt is
        interrupted. Runs of the ``task`` id(s), with ``status``, carrying every one of
        ``tags``, created after ``created_after`` and before ``created_before``; None
        matches any. Returns the bulk action at once; a worker carries it out,
        ``page_size`` runs per transaction. A filter matching nothing returns a finished
        action with ``total`` 0. A bad or unknown name raises, nothing recorded."""
        f = run_filter(
            self.kernel, task=task, status=status, tags=tags,
            created_after=created_after, created_before=created_before, cancel=True,
        )  # fmt: skip
        return self._start("cancel", f, page_size)

    def replay_many(
        self,
        task: TaskRef | Sequence[TaskRef] | None = None,
        status: StatusRef | Sequence[StatusRef] | None = None,
        tags: str | Sequence[str] | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        *,
        page_size: int = PAGE_SIZE,
    ) -> BulkAction:
        """Replay every run the filter matches (as ``app.replay`` does: a new run of the
        same task, payload, queue, priority and tags; the source run is untouched), each
        exactly once. The filter and the rest are as for ``cancel_many``. A run whose
        task is no longer registered, or whose payload the task no longer accepts, is
        gone through and not replayed (``done`` counts it, ``changed`` does not)."""
        f = run_filter(
            self.kernel, task=task, status=status, tags=tags,
            created_after=created_after, created_before=created_before,
        )  # fmt: skip
        return self._start("replay", f, page_size)

    def _start(self, kind: str, f: RunFilter, page_size: int) -> BulkAction:
        if isinstance(page_size, bool) or not isinstance(page_size, int):
            raise ValidationError(f"page_size must be an int, got {page_size!r}")
        if not 0 < page_size <= MAX_PAGE_SIZE:
            raise ValidationError(f"page_size must be 1 to {MAX_PAGE_SIZE}, got {page_size}")
        kernel = self.kernel
        bulk_id = new_id("blk")
        run = kernel.new_run(BULK_TASK, {"bulk_id": bulk_id})
        new = NewBulkAction(id=bulk_id, kind=kind, filter=f, page_size=page_size, run=run)
        row = kernel.store.bulk.create(new, kernel.clock.now(), kernel.idempotency_ttl)
        if row.run_id is not None:
            kernel.wake()
        return bulk_record(row)

    def bulk_action(self, bulk_id: str) -> BulkAction:
        """A bulk action and its progress; UnknownBulkActionError if there is none."""
        row = self.kernel.store.bulk.get(str(bulk_id))
        if row is None:
            raise UnknownBulkActionError(f"no bulk action with id {bulk_id!r}")
        return bulk_record(row)

    get_bulk_action = bulk_action

    def bulk_actions(self, *, limit: int = 50) -> builtins.list[BulkAction]:
        """Bulk actions, newest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_LIST:
            raise ValidationError(f"limit must be 1 to {MAX_LIST}, got {limit!r}")
        return [bulk_record(r) for r in self.kernel.store.bulk.list(limit)]

    async def count_async(self, *args: Any, **filters: Any) -> int:
        return await asyncio.to_thread(lambda: self.count(*args, **filters))

    async def cancel_many_async(self, *args: Any, **filters: Any) -> BulkAction:
        return await asyncio.to_thread(lambda: self.cancel_many(*args, **filters))

    async def replay_many_async(self, *args: Any, **filters: Any) -> BulkAction:
        return await asyncio.to_thread(lambda: self.replay_many(*args, **filters))

    async def bulk_action_async(self, bulk_id: str) -> BulkAction:
        return await asyncio.to_thread(self.bulk_action, bulk_id)

    get_bulk_action_async = bulk_action_async

    async def bulk_actions_async(self, *, limit: int = 50) -> builtins.list[BulkAction]:
        return await asyncio.to_thread(lambda: self.bulk_actions(limit=limit))


# -- the bulk task ---------------------------------------------------------------------
def act_on_page(kernel: Kernel, bulk_id: str) -> dict[str, Any]:
    """Act on the action's next page (blocking); where the action stands after it."""
    store = kernel.store
    row = store.bulk.get(bulk_id)
    if row is None:
        raise UnknownBulkActionError(f"no bulk action with id {bulk_id!r}")
    if row.finished_at is None:
        runs = store.bulk.page(row, BULK_TASK)
        now = kernel.clock.now()
        if row.kind == "cancel":
            row, cancelled = store.bulk.cancel_page(row, runs, now)
            for run_id in cancelled:
                kernel.interrupt(run_id, "cancelled")
        else:
            replays = [Replay(r.id, _replay_of(kernel, r)) for r in runs]
            row, created = store.bulk.replay_page(row, runs, replays, now, kernel.idempotency_ttl)
            if created:
                kernel.wake()
    return {"pages": row.pages, "done": row.done, "finished": row.finished_at is not None}


def _replay_of(kernel: Kernel, run: MatchedRun) -> NewRun | None:
    """The new run replaying ``run``, as ``app.replay`` makes it; None if its task is
    gone or no longer takes its payload."""
    try:
        return _new_replay(kernel, run, run.task_id, json.loads(run.payload))
    except (ValidationError, UnknownTaskError):
        return None


def _new_replay(kernel: Kernel, source: Run | MatchedRun, task_id: str, payload: Any) -> NewRun:
    """The new run replaying ``source``: its task, priority, queue and tags, marked as a
    replay of it (``app.replay`` and a bulk replay make it alike)."""
    return kernel.new_run(
        task_id,
        payload,
        priority=source.priority,
        queue=source.queue,
        tags=source.tags,
        replay_of=source.id,
    )


def bulk_task(kernel: Kernel) -> TaskDef:
    """The built-in ``tidings.runs.bulk``: every page of one bulk action, each a step."""

    async def tidings_runs_bulk(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
        bulk_id = str(payload["bulk_id"])
        while True:
            page = await ctx.step("page", act_on_page, kernel, bulk_id)
            if page["finished"]:
                break
        action = await asyncio.to_thread(RunOps(kernel).bulk_action, bulk_id)
        return {"bulk_id": bulk_id, "total": action.total, "changed": action.changed}

    return make_task(
        tidings_runs_bulk, id=BULK_TASK, retry=Retry(max_attempts=10), queue="default",
        priority=0, timeout=None,
    )  # fmt: skip


# -- replay from a step ----------------------------------------------------------------
def replay(
    kernel: Kernel, run_id: str, from_step: str | None = None, payload: Any = None
) -> RunHandle:
    """A new run of the source run's task; with ``from_step``, starting with copies of
    the source's completed steps recorded before that one. See ``Tidings.replay``."""
    source = kernel.get_run(run_id)
    definition = kernel.get_task(source.task_id)
    value = source.payload if payload is None else payload
    new = _new_replay(kernel, source, definition.id, value)
    if from_step is None:
        new_id_, _ = kernel.create_run(new)
        return RunHandle(kernel, new_id_)
    names = [s.name for s in source.steps]  # in the order they first ran
    if not isinstance(from_step, str) or from_step not in names:
        listed = ", ".join(repr(n) for n in names) if names else "none: it never ran a step"
        raise ValidationError(
            f"run {source.id} has no step {from_step!r} (a step it never reached cannot "
            f"be replayed from); its steps, in the order they first ran: {listed}"
        )
    kept = [s.name for s in source.steps[: names.index(from_step)] if s.status == "completed"]
    now = kernel.clock.now()
    if new.gate is not None:
        # A fork starts now as it is: it joins no debounced or batched run, and takes
        # the payload it was given (or the source's) without gathering it into a list.
        text = json.dumps(source.payload) if payload is None else definition.encode_payload(value)
        new = replace(new, gate=None, run_at=now, payload=text)
    kernel.store.bulk.fork(new, source.id, kept, now)
    kernel.wake()
    return RunHandle(kernel, new.id)
