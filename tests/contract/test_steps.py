"""Memoized steps and durable sleeps, through the public API on the virtual clock."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import START
from tidings import Context, RunStatus, Tidings
from tidings.testing import TestEngine


async def test_completed_step_never_runs_again_after_a_sleep(app: Tidings) -> None:
    calls: list[str] = []

    def load(user: str) -> dict[str, Any]:
        calls.append(user)
        return {"user": user, "complete": False}

    @app.task
    async def drip(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
        profile = await ctx.step("load", load, payload["user"])
        await ctx.sleep(timedelta(days=3))
        return {"profile": profile, "at": ctx.now().isoformat()}

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("drip", {"user": "u1"})
        run = await t.get_run(h.id)
        assert run.status is RunStatus.WAITING
        assert run.wake_at == START + timedelta(days=3)
        await t.advance(timedelta(days=3) - timedelta(seconds=1))
        assert (await t.get_run(h.id)).status is RunStatus.WAITING
        await t.advance(timedelta(seconds=1))
        run = await t.get_run(h.id)
    assert run.status is RunStatus.COMPLETED
    assert run.result == {
        "profile": {"user": "u1", "complete": False},
        "at": (START + timedelta(days=3)).isoformat(),
    }
    assert calls == ["u1"]
    assert [(s.name, s.kind, s.status) for s in run.steps] == [
        ("load", "step", "completed"),
        ("sleep", "sleep", "completed"),
    ]


async def test_repeated_names_get_call_order_suffixes(app: Tidings) -> None:
    @app.task
    async def loop(ctx: Context, payload: None) -> list[int]:
        out = []
        for i in range(3):
            out.append(await ctx.step("send", lambda i=i: i * 10))
            await ctx.sleep(60)
        return out

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("loop")
        await t.advance(timedelta(minutes=5))
        run = await t.get_run(h.id)
    assert run.result == [0, 10, 20]
    assert [s.name for s in run.steps] == [
        "send",
        "sleep",
        "send:2",
        "sleep:2",
        "send:3",
        "sleep:3",
    ]


async def test_reserved_suffix_is_a_clear_error_that_fails_the_run(app: Tidings) -> None:
    @app.task
    async def bad(ctx: Context, payload: None) -> None:
        await ctx.step("send:2", lambda: 1)

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("bad")
        run = await t.get_run(h.id)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error.type == "StepNameError"
    assert "'send:2'" in run.error.message
    assert run.steps == []


async def test_parallel_steps_are_memoized_by_name(app: Tidings) -> None:
    counts = {"a": 0, "b": 0}

    async def work(name: str) -> str:
        counts[name] += 1
        await asyncio.sleep(0.01)
        return name.upper()

    @app.task
    async def fan(ctx: Context, payload: None) -> list[str]:
        results = await asyncio.gather(ctx.step("a", work, "a"), ctx.step("b", work, "b"))
        await ctx.sleep(10)
        return list(results)

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("fan")
        await t.advance(timedelta(seconds=10))
        run = await t.get_run(h.id)
    assert run.result == ["A", "B"]
    assert counts == {"a": 1, "b": 1}


async def test_sync_steps_run_in_a_thread_and_results_are_json(app: Tidings) -> None:
    main = threading.get_ident()

    def blocking() -> tuple[bool, int]:
        return threading.get_ident() != main, 3

    @app.task
    async def t1(ctx: Context, payload: None) -> Any:
        first = await ctx.step("blocking", blocking)
        await ctx.sleep(1)
        return first

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("t1")
        await t.advance(timedelta(seconds=1))
        run = await t.get_run(h.id)
    # a tuple comes back as a list on the first execution too, as after a replay
    assert run.result == [True, 3]


async def test_step_result_that_is_not_json_fails_naming_step_and_type(app: Tidings) -> None:
    @app.task
    async def leaky(ctx: Context, payload: None) -> None:
        await ctx.step("load-ids", lambda: {1, 2})

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("leaky")
        run = await t.get_run(h.id)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert "step 'load-ids'" in run.error.message
    assert "set" in run.error.message
    assert run.attempt == 1  # not retried: the same code returns the same set
    assert run.steps == []


async def test_sleep_until_needs_an_aware_datetime(app: Tidings) -> None:
    @app.task
    async def naive(ctx: Context, payload: None) -> None:
        await ctx.sleep_until(datetime(2026, 3, 2, 9, 0))  # noqa: DTZ001

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("naive")
        run = await t.get_run(h.id)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert "naive datetime" in run.error.message
    assert run.steps == []


async def test_sleep_until_wakes_at_that_instant(app: Tidings) -> None:
    wake = datetime(2026, 3, 5, 7, 30, tzinfo=UTC)

    @app.task
    async def alarm(ctx: Context, payload: None) -> str:
        await ctx.sleep_until(wake)
        return ctx.now().isoformat()

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("alarm")
        assert (await t.get_run(h.id)).wake_at == wake
        await t.advance(timedelta(days=10))
        run = await t.get_run(h.id)
    assert run.result == wake.isoformat()


async def test_suspension_passes_through_except_exception(app: Tidings) -> None:
    @app.task
    async def careless(ctx: Context, payload: None) -> str:
        try:
            await ctx.sleep(30)
        except Exception:  # must not swallow the wait
            return "swallowed"
        return "woke"

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("careless")
        assert (await t.get_run(h.id)).status is RunStatus.WAITING
        await t.advance(timedelta(seconds=30))
        run = await t.get_run(h.id)
    assert run.result == "woke"


async def test_logs_are_stored_once_even_when_code_replays(app: Tidings) -> None:
    @app.task
    async def chatty(ctx: Context, payload: None) -> None:
        ctx.logger.info("starting %s", ctx.run_id)
        await ctx.sleep(5)
        ctx.logger.warning("after the sleep")

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("chatty")
        await t.advance(timedelta(seconds=5))
    logs = app.get_logs(h.id)
    assert [(entry.level, entry.message) for entry in logs] == [
        ("INFO", f"starting {h.id}"),
        ("WARNING", "after the sleep"),
    ]
    assert logs[0].at == START
    assert logs[1].at == START + timedelta(seconds=5)


async def test_context_exposes_identity_and_clock(app: Tidings) -> None:
    seen: dict[str, Any] = {}

    @app.task(id="who-am-i")
    async def who(ctx: Context, payload: None) -> None:
        seen.update(
            run_id=ctx.run_id,
            task_id=ctx.task_id,
            attempt=ctx.attempt,
            env=ctx.environment,
            now=ctx.now(),
        )

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("who-am-i")
    assert seen == {"run_id": h.id, "task_id": "who-am-i", "attempt": 1, "env": "dev", "now": START}


@pytest.mark.parametrize("name", ["", "  "])
async def test_empty_step_names_are_rejected(app: Tidings, name: str) -> None:
    @app.task
    async def nameless(ctx: Context, payload: None) -> None:
        await ctx.step(name, lambda: 1)

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("nameless")
        run = await t.get_run(h.id)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error.type == "StepNameError"
