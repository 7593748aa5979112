"""Cancellation of queued, waiting and running runs."""

from __future__ import annotations

import asyncio
import threading
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


def test_cancel_interrupts_a_real_workers_attempt_in_the_same_process_at_once(
    app: Tidings,
) -> None:
    # heartbeats a minute apart: only the in-process interrupt can stop the step in time
    app.configure(lease=timedelta(minutes=5))
    started = threading.Event()
    stopped = threading.Event()

    @app.task
    async def long(ctx: Context, payload: None) -> None:
        async def wait() -> None:
            started.set()
            try:
                await asyncio.sleep(120)
            finally:
                stopped.set()

        await ctx.step("wait", wait)

    worker = app.worker(heartbeat=timedelta(minutes=1), poll_interval=0.05)
    thread = threading.Thread(target=asyncio.run, args=(worker.run(),), daemon=True)
    thread.start()
    try:
        handle = app.trigger("long")
        assert started.wait(20)
        assert app.cancel(handle.id).status is RunStatus.CANCELLED
        assert stopped.wait(10), "the attempt was not interrupted"
    finally:
        worker.stop()
        thread.join(30)
    assert app.get_run(handle.id).status is RunStatus.CANCELLED
