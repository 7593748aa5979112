"""Singleton on every store: at most one queued, running or waiting run per key."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from tests.conftest import START
from tidings import Context, RunStatus, Singleton, Tidings
from tidings.testing import TestEngine


async def test_skip_returns_the_active_run_until_it_finishes(app: Tidings) -> None:
    @app.task(singleton=Singleton(key="user"))
    async def send(ctx: Context, payload: dict[str, Any]) -> str:
        await ctx.sleep(timedelta(hours=1))
        return str(payload["n"])

    async with TestEngine(app, start=START) as t:
        first = await t.trigger("send", {"user": "u1", "n": 1})  # now WAITING
        again = await t.trigger("send", {"user": "u1", "n": 2})
        other = await t.trigger("send", {"user": "u2", "n": 3})
        assert (await t.get_run(first.id)).status is RunStatus.WAITING
        await t.advance(timedelta(hours=1))
        after = await t.trigger("send", {"user": "u1", "n": 4})
        await t.advance(timedelta(hours=1))
        results = [(await t.get_run(h.id)).result for h in (first, other, after)]
    assert again.id == first.id
    assert not again.created
    assert other.id != first.id
    assert other.created
    assert after.id != first.id
    assert after.created
    assert results == ["1", "3", "4"]


async def test_skip_holds_while_queued_for_later_and_for_retries(app: Tidings) -> None:
    from tidings import Retry

    fails: list[int] = []

    @app.task(singleton=Singleton(), retry=Retry(max_attempts=2, initial=60, jitter=False))
    async def flaky(ctx: Context, payload: Any) -> None:
        if not fails:
            fails.append(1)
            raise RuntimeError("once")

    async with TestEngine(app, start=START) as t:
        delayed = await t.trigger("flaky", 1, delay=timedelta(minutes=5))
        assert (await t.trigger("flaky", 2)).id == delayed.id  # queued for later
        await t.advance(timedelta(minutes=5))  # failed once: queued for its retry
        assert (await t.get_run(delayed.id)).status is RunStatus.QUEUED
        assert (await t.trigger("flaky", 3)).id == delayed.id
        await t.advance(timedelta(minutes=1))
        assert (await t.get_run(delayed.id)).status is RunStatus.COMPLETED
        assert len(app.list_runs("flaky")) == 1


async def test_cancel_interrupts_the_running_attempt_and_starts_anew(app: Tidings) -> None:
    entered = asyncio.Event()
    interrupted: list[int] = []
    done: list[int] = []

    async def long_call(n: int) -> None:
        if n == 1:
            entered.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                interrupted.append(n)
                raise
        done.append(n)

    @app.task(singleton=Singleton(key="user", on_conflict="cancel"))
    async def render(ctx: Context, payload: dict[str, Any]) -> int:
        await ctx.step("long", long_call, payload["n"])
        return int(payload["n"])

    async with TestEngine(app, start=START) as t:
        trigger = asyncio.create_task(t.trigger("render", {"user": "u1", "n": 1}))
        await asyncio.wait_for(entered.wait(), 5)
        first_id = app.list_runs(task_id="render")[0].id
        assert app.get_run(first_id).status is RunStatus.RUNNING
        second = await asyncio.to_thread(app.trigger, "render", {"user": "u1", "n": 2})
        await asyncio.wait_for(trigger, 5)
        await t.run_due()
        first, new = await t.get_run(first_id), await t.get_run(second.id)
    assert second.created
    assert second.id != first_id
    assert interrupted == [1]
    assert first.status is RunStatus.CANCELLED
    assert new.status is RunStatus.COMPLETED
    assert new.result == 2
    assert done == [2]


async def test_cancel_replaces_a_queued_run_and_tells_a_waiting_parent(app: Tidings) -> None:
    @app.task(singleton=Singleton(on_conflict="cancel"))
    async def job(ctx: Context, payload: int) -> int:
        return payload

    @app.task
    async def parent(ctx: Context, payload: None) -> Any:
        try:
            return await ctx.trigger_and_wait("job", 1, delay=timedelta(hours=1))
        except Exception as exc:
            return type(exc).__name__

    async with TestEngine(app, start=START) as t:
        p = await t.trigger("parent")
        await t.trigger("job", 2)  # cancels the parent's queued child, runs at once
        await t.run_due()
        runs = {r.payload: r.status for r in app.list_runs("job")}
        parent_run = await t.get_run(p.id)
    assert runs == {1: RunStatus.CANCELLED, 2: RunStatus.COMPLETED}
    assert parent_run.result == "ChildRunFailed"


async def test_child_runs_and_events_share_the_key(app: Tidings) -> None:
    @app.task(on_event="user.changed", singleton=Singleton(key="id"))
    async def refresh(ctx: Context, payload: dict[str, Any]) -> None:
        await ctx.sleep(timedelta(minutes=10))

    @app.task
    async def parent(ctx: Context, payload: None) -> str:
        return await ctx.trigger("refresh", {"id": "u1"})

    async with TestEngine(app, start=START) as t:
        receipt = await t.send_event("user.changed", {"id": "u1"})
        again = await t.send_event("user.changed", {"id": "u1"})
        p = await t.trigger("parent")
        child = (await t.get_run(p.id)).result
    assert receipt.run_ids == again.run_ids == (child,)
    assert len(app.list_runs("refresh")) == 1
