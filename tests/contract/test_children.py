"""Child runs: ctx.trigger, ctx.trigger_and_wait, fan-out; and the wait/event race."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from tests.conftest import START
from tidings import ChildRunFailed, Context, NonRetriableError, Retry, RunStatus, Tidings
from tidings.testing import TestEngine


def register_child(app: Tidings) -> dict[str, int]:
    calls = {"n": 0}

    @app.task(retry=Retry(max_attempts=2, initial=10, jitter=False))
    async def child(ctx: Context, payload: dict[str, Any]) -> Any:
        calls["n"] += 1
        if payload.get("fail"):
            raise NonRetriableError(f"child refused {payload['x']}")
        await ctx.sleep(timedelta(minutes=payload.get("minutes", 1)))
        return payload["x"] * 2

    return calls


async def test_trigger_and_wait_returns_the_child_result(app: Tidings) -> None:
    register_child(app)

    @app.task
    async def parent(ctx: Context, payload: None) -> Any:
        return await ctx.trigger_and_wait("child", {"x": 21, "minutes": 30})

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("parent")
        run = await t.get_run(h.id)
        assert run.status is RunStatus.WAITING
        assert run.wake_at is None  # waits for the child, not for a time
        await t.advance(timedelta(minutes=30))
        run = await t.get_run(h.id)
    assert run.status is RunStatus.COMPLETED
    assert run.result == 42
    step = run.steps[0]
    assert (step.kind, step.status) == ("trigger_and_wait", "completed")


async def test_a_failed_child_raises_child_run_failed(app: Tidings) -> None:
    register_child(app)

    @app.task
    async def careful(ctx: Context, payload: None) -> str:
        try:
            await ctx.trigger_and_wait("child", {"x": 1, "fail": True})
        except ChildRunFailed as exc:
            error = exc.error
            return "no error" if error is None else f"{error.type}: {error.message}"
        return "unreachable"

    @app.task
    async def careless(ctx: Context, payload: None) -> Any:
        return await ctx.trigger_and_wait("child", {"x": 2, "fail": True})

    async with TestEngine(app, start=START) as t:
        a = await t.trigger("careful")
        b = await t.trigger("careless")
        await t.advance(timedelta(hours=1))
        handled, failed = await t.get_run(a.id), await t.get_run(b.id)
    assert handled.result == "NonRetriableError: child refused 1"
    assert failed.status is RunStatus.FAILED
    assert failed.error is not None
    assert failed.error.type == "ChildRunFailed"
    assert failed.attempt == 1  # a failed child stays failed: not retried


async def test_a_cancelled_child_fails_the_wait(app: Tidings) -> None:
    register_child(app)

    @app.task
    async def parent(ctx: Context, payload: None) -> Any:
        return await ctx.trigger_and_wait("child", {"x": 1, "minutes": 600})

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("parent")
        child = next(r for r in app.list_runs(task_id="child"))
        app.cancel(child.id)
        await t.advance(timedelta(0))
        run = await t.get_run(h.id)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert "cancelled" in run.error.message


async def test_ctx_trigger_is_memoized_across_replays(app: Tidings) -> None:
    register_child(app)

    @app.task
    async def parent(ctx: Context, payload: None) -> str:
        child = await ctx.trigger("child", {"x": 5})
        await ctx.sleep(timedelta(hours=1))
        return child

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("parent")
        await t.advance(timedelta(hours=2))
        run = await t.get_run(h.id)
    children = app.list_runs(task_id="child")
    assert [c.id for c in children] == [run.result]
    assert children[0].status is RunStatus.COMPLETED
    assert children[0].result == 10


async def test_fan_out_to_many_children(app: Tidings) -> None:
    register_child(app)

    @app.task
    async def parent(ctx: Context, payload: None) -> list[Any]:
        waits = [ctx.trigger_and_wait("child", {"x": i, "minutes": 10 - i}) for i in range(5)]
        return list(await asyncio.gather(*waits))

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("parent")
        await t.advance(timedelta(minutes=10))
        run = await t.get_run(h.id)
    assert run.result == [0, 2, 4, 6, 8]
    assert len(app.list_runs(task_id="child")) == 5
    assert sorted(s.name for s in run.steps) == [
        "child",
        "child:2",
        "child:3",
        "child:4",
        "child:5",
    ]


async def test_an_event_sent_while_the_wait_is_being_recorded_resumes_it_once(
    app: Tidings,
) -> None:
    resumed: list[Any] = []

    def send_now() -> str:
        # The wait below has begun but its attempt has not committed yet: the event
        # finds no wait row, so recording the wait must look back for it.
        return app.send_event("quote.responded", {"quoteId": "q1"}).event_id

    @app.task
    async def racer(ctx: Context, payload: None) -> Any:
        sent, event = await asyncio.gather(
            ctx.step("send", send_now),
            ctx.wait_for_event(
                "quote.responded", match={"quoteId": "q1"}, timeout=timedelta(hours=48)
            ),
        )
        resumed.append(event)
        return sent

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("racer")
        await t.advance(timedelta(hours=1))
        run = await t.get_run(h.id)
    assert run.status is RunStatus.COMPLETED
    assert len(resumed) == 1
    assert resumed[0].id == run.result
