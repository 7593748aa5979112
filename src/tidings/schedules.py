"""Cron schedules on the client side: ``app.schedules`` and a task's ``cron=``."""

from __future__ import annotations

import asyncio
import builtins
from typing import Any

from tidings import serde
from tidings.cron import parse_cron
from tidings.errors import UnknownScheduleError, ValidationError
from tidings.ids import new_id
from tidings.kernel import Kernel
from tidings.kernel.schedules import check_payload, with_cron
from tidings.records import Schedule

__all__ = ["MAX_KEY_LENGTH", "Schedules", "check_payload", "with_cron"]

MAX_KEY_LENGTH = 200


class Schedules:
    """Dynamic schedules (``app.schedules``): e.g. one per user, in the user's timezone.

    Each tick of a schedule starts one run of its task, whose payload holds
    ``timestamp`` (the tick, ISO 8601 UTC), ``last_timestamp`` (the previous tick fired,
    or None), ``timezone``, ``schedule_id``, ``key`` and the schedule's ``payload``.
    """

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel

    def create(
        self,
        task_id: str,
        cron: str,
        timezone: str = "UTC",
        *,
        key: str | None = None,
        payload: Any = None,
        catch_up: str = "latest",
    ) -> Schedule:
        """Create a schedule, or update the one with this ``key``; returns it as stored.

        Args:
            task_id: the task each tick runs.
            cron: five fields (``"0 9 * * 1-5"``) or ``@hourly``, ``@daily``...
            timezone: IANA name the expression is read in (DST as cron daemons do).
            key: your name for it (unique); creating with a used key updates that
                schedule, keeping its next tick if cron and timezone are unchanged.
            payload: JSON passed to every run under ``payload``.
            catch_up: after downtime run the ``latest`` missed tick, ``all``, or ``none``.

        Raises:
            ValidationError: bad cron, timezone, key, catch_up or payload; nothing stored.
            UnknownTaskError: no such task.
        """
        task = self._kernel.get_task(task_id)
        owner = f"the schedule of task {task.id!r}"
        spec = parse_cron(cron, timezone, catch_up, owner=owner)
        if key is not None and (not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH):
            raise ValidationError(f"key of {owner} must be a string of 1 to 200 characters")
        data = serde.normalize(payload, f"payload of {owner}")
        now = self._kernel.clock.now()
        schedule = Schedule(
            id=new_id("sch"),
            task_id=task.id,
            cron=spec.expression,
            timezone=spec.timezone,
            key=key,
            payload=data,
            next_run_at=spec.next_after(now),
            last_run_at=None,
            catch_up=spec.catch_up,
        )
        check_payload(task, schedule)
        return self._kernel.store.schedules.save(schedule, now)

    def delete(self, key_or_id: str) -> bool:
        """Delete the schedule with this key or id; False if there was none.

        A static schedule (``cron=`` on a task) comes back when a worker next starts.
        """
        return self._kernel.store.schedules.delete(key_or_id)

    def pause(self, key_or_id: str) -> Schedule:
        """Stop the schedule firing until :meth:`resume`; UnknownScheduleError if none.

        A paused static schedule stays paused across worker restarts.
        """
        now = self._kernel.clock.now()
        found = self._kernel.store.schedules.set_paused(key_or_id, True, None, now)
        if found is None:
            raise UnknownScheduleError(f"no schedule with id or key {key_or_id!r}")
        return found

    def resume(self, key_or_id: str) -> Schedule:
        """Fire again from the next tick after now: ticks missed while paused never run."""
        now = self._kernel.clock.now()
        found = self._kernel.store.schedules.find(key_or_id)
        if found is None:
            raise UnknownScheduleError(f"no schedule with id or key {key_or_id!r}")
        spec = parse_cron(found.cron, found.timezone, found.catch_up, owner="the schedule")
        resumed = self._kernel.store.schedules.set_paused(
            key_or_id, False, spec.next_after(now), now
        )
        if resumed is None:  # deleted in between
            raise UnknownScheduleError(f"no schedule with id or key {key_or_id!r}")
        return resumed

    def list(self) -> builtins.list[Schedule]:
        """Every schedule of the app's tasks, soonest next tick first (the schedules of
        built-in tasks, such as the hourly ``tidings.prune``, are not the app's)."""
        internal = self._kernel.internal
        return [s for s in self._kernel.store.schedules.all() if s.task_id not in internal]

    async def create_async(self, task_id: str, cron: str, **options: Any) -> Schedule:
        return await asyncio.to_thread(self.create, task_id, cron, **options)

    async def delete_async(self, key_or_id: str) -> bool:
        return await asyncio.to_thread(self.delete, key_or_id)

    async def list_async(self) -> builtins.list[Schedule]:
        return await asyncio.to_thread(self.list)

    async def pause_async(self, key_or_id: str) -> Schedule:
        return await asyncio.to_thread(self.pause, key_or_id)

    async def resume_async(self, key_or_id: str) -> Schedule:
        return await asyncio.to_thread(self.resume, key_or_id)
