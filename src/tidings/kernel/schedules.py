"""A task's static schedule (``cron=``) and the payload each scheduled run gets.

Below the engine and the client alike: the scheduler fires these rows, ``app.schedules``
validates dynamic ones against them, and built-in tasks (Expo receipts) declare theirs.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from tidings.cron import CronSpec, parse_cron, parse_timezone
from tidings.errors import ValidationError
from tidings.records import Schedule
from tidings.tasks import TaskDef

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def static_schedule_id(task_id: str) -> str:
    """The id of the schedule a task's ``cron=`` declares."""
    return f"cron:{task_id}"


def static_schedule(task_id: str, spec: CronSpec, next_run_at: datetime) -> Schedule:
    """The schedule row of ``@app.task(cron=...)``."""
    return Schedule(
        id=static_schedule_id(task_id),
        task_id=task_id,
        cron=spec.expression,
        timezone=spec.timezone,
        key=None,
        payload=None,
        next_run_at=next_run_at,
        last_run_at=None,
        catch_up=spec.catch_up,
        static=True,
    )


def scheduled_payload(schedule: Schedule, tick: datetime, last: datetime | None) -> Any:
    """The payload of the run for ``tick`` (DESIGN §3 "Schedules")."""
    payload: dict[str, Any] = {
        "timestamp": tick.isoformat(),
        "last_timestamp": last.isoformat() if last is not None else None,
        "timezone": schedule.timezone,
        "schedule_id": schedule.id,
        "key": schedule.key,
    }
    if not schedule.static:
        payload["payload"] = schedule.payload
    return payload


def with_cron(task: TaskDef, cron: str | None, timezone: str, catch_up: str) -> TaskDef:
    """``task`` with the static schedule of ``@app.task(cron=...)``, validated now."""
    owner = f"task {task.id!r}"
    if cron is None:
        parse_timezone(timezone, owner=owner)  # a stray bad timezone is still bad input
        return task
    spec: CronSpec = parse_cron(cron, timezone, catch_up, owner=owner)
    sample = static_schedule(task.id, spec, spec.next_after(_EPOCH))
    check_payload(task, sample)
    return dataclasses.replace(task, schedule=spec)


def check_payload(task: TaskDef, schedule: Schedule) -> None:
    """The task must accept the payload its scheduled runs will get (pydantic models)."""
    if not task.takes_payload:
        if schedule.payload is not None:
            raise ValidationError(
                f"task {task.id!r} takes no payload (its function has only ctx), "
                "so its schedule cannot have one"
            )
        return
    task.encode_payload(scheduled_payload(schedule, schedule.next_run_at, None))
