"""Cancellation of queued, waiting and running runs."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.conftest import START
from tidings import Context, RunStatus, Tidings
from tidings.errors import RunCancelledError, UnknownRunError
from tidings.testing import TestEngine


async def test_cancel_queued_run_never_starts(app: Tidings) -> None:
    ran = []

    @app.task
    async def job(ctx: Context, payload: None) -> None:
        ran.append(1)

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("job", delay=timedelta(hours=1))
        run = app.cancel(h.id)
        assert run.status is RunStatus.CANCELLED
        await t.advance(timedelta(hours=2))
        run = await t.get_run(h.id)
    assert ran == []
    assert run.status is RunStatus.CANCELLED
    assert run.finished_at == START


async def test_cancel_waiting_run_never_wakes(app: Tidings) -> None:
    after = []

    @app.task
    async def job(ctx: Context, payload: None) -> None:
        await ctx.sleep(timedelta(days=1))
        after.append(1)

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("job")
        await t.advance(timedelta(hours=1))
        app.cancel(h.id)
        await t.advance(timedelta(days=2))
        run = await t.get_run(h.id)
    assert after == []
    assert run.status is RunStatus.CANCELLED
    assert run.wake_at is None


async def test_cancel_running_run_interrupts_the_attempt(app: Tidings) -> None:
    entered = asyncio.Event()
    interrupted = []

    async def long_call() -> None:
        entered.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            interrupted.append(True)
            raise

    @app.task
    async def job(ctx: Context, payload: None) -> None:
        await ctx.step("long", long_call)

    async with TestEngine(app, start=START) as t:
        trigger = asyncio.create_task(t.trigger("job"))
        await asyncio.wait_for(entered.wait(), 5)
        run_id = app.list_runs(task_id="job")[0].id
        assert app.get_run(run_id).status is RunStatus.RUNNING
        await asyncio.to_thread(app.cancel, run_id)
        handle = await asyncio.wait_for(trigger, 5)
        run = await t.get_run(handle.id)
    assert interrupted == [True]
    assert run.status is RunStatus.CANCELLED
    assert run.steps == []
    with pytest.raises(RunCancelledError):
        await handle.result_async(timeout=1)


async def test_cancel_finished_run_changes_nothing(app: Tidings) -> None:
    @app.task
    async def job(ctx: Context, payload: None) -> int:
        return 1

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("job")
        run = app.cancel(h.id)
    assert run.status is RunStatus.COMPLETED
    assert run.result == 1


def test_cancel_unknown_run(app: Tidings) -> None:
    with pytest.raises(UnknownRunError, match="no run with id 'run_nope'"):
        app.cancel("run_nope")
