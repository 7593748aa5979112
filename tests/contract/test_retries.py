"""Retries: backoff on the virtual clock, budgets per step, NonRetriableError, timeouts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.conftest import START
from tidings import Context, NonRetriableError, Retry, RunStatus, Tidings
from tidings.testing import TestEngine

NO_JITTER = Retry(max_attempts=3, initial=timedelta(seconds=10), factor=2, jitter=False)


class Flaky:
    """Fails the first ``failures`` calls, then returns ``value``."""

    def __init__(self, failures: int, value: object = "ok") -> None:
        self.failures = failures
        self.calls = 0
        self.value = value

    def __call__(self) -> object:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"boom {self.calls}")
        return self.value


async def test_failed_step_is_retried_with_exponential_backoff(app: Tidings) -> None:
    flaky = Flaky(2)

    @app.task(retry=NO_JITTER)
    async def job(ctx: Context, payload: None) -> object:
        return await ctx.step("call", flaky)

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("job")
        run = await t.get_run(h.id)
        assert run.status is RunStatus.QUEUED
        assert run.attempt == 2
        assert run.run_at == START + timedelta(seconds=10)
        assert run.error is not None
        assert run.error.message == "boom 1"
        await t.advance(timedelta(seconds=10))
        run = await t.get_run(h.id)
        assert run.run_at == START + timedelta(seconds=10 + 20)
        await t.advance(timedelta(seconds=19))
        assert flaky.calls == 2
        await t.advance(timedelta(seconds=1))
        run = await t.get_run(h.id)
    assert run.status is RunStatus.COMPLETED
    assert run.result == "ok"
    assert run.attempt == 3
    assert flaky.calls == 3
    assert run.steps[0].attempts == 3


async def test_jittered_retry_falls_between_half_and_full_delay(app: Tidings) -> None:
    flaky = Flaky(1)

    @app.task(retry=Retry(initial=timedelta(seconds=100), jitter=True))
    async def job(ctx: Context, payload: None) -> object:
        return await ctx.step("call", flaky)

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("job")
        run = await t.get_run(h.id)
        assert run.run_at is not None
        assert START + timedelta(seconds=50) <= run.run_at <= START + timedelta(seconds=100)
        await t.advance(timedelta(seconds=100))
        assert (await t.get_run(h.id)).status is RunStatus.COMPLETED


async def test_budget_counts_per_step(app: Tidings) -> None:
    first, second = Flaky(2), Flaky(2)

    @app.task(retry=NO_JITTER)
    async def job(ctx: Context, payload: None) -> list[object]:
        return [await ctx.step("first", first), await ctx.step("second", second)]

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("job")
        await t.advance(timedelta(hours=1))
        run = await t.get_run(h.id)
    # four failures in all, but never three for one step
    assert run.status is RunStatus.COMPLETED
    assert [(s.name, s.attempts) for s in run.steps] == [("first", 3), ("second", 3)]
    assert run.attempt == 5


async def test_exhausted_retries_fail_with_type_message_and_traceback(app: Tidings) -> None:
    flaky = Flaky(99)

    @app.task(retry=NO_JITTER)
    async def job(ctx: Context, payload: None) -> object:
        await ctx.step("ok", lambda: 1)
        return await ctx.step("call", flaky)

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("job")
        await t.advance(timedelta(hours=1))
        run = await t.get_run(h.id)
    assert run.status is RunStatus.FAILED
    assert flaky.calls == 3
    assert run.error is not None
    assert run.error.type == "ConnectionError"
    assert run.error.message == "boom 3"
    assert "ConnectionError: boom 3" in run.error.traceback
    assert "__call__" in run.error.traceback
    assert run.finished_at == START + timedelta(seconds=30)
    failed = run.steps[1]
    assert (failed.name, failed.status, failed.attempts) == ("call", "failed", 3)


async def test_non_retriable_error_fails_at_once(app: Tidings) -> None:
    calls = 0

    def reject() -> None:
        nonlocal calls
        calls += 1
        raise NonRetriableError("card declined")

    @app.task(retry=NO_JITTER)
    async def job(ctx: Context, payload: None) -> None:
        await ctx.step("charge", reject)

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("job")
        await t.advance(timedelta(hours=1))
        run = await t.get_run(h.id)
    assert run.status is RunStatus.FAILED
    assert calls == 1
    assert run.error is not None
    assert (run.error.type, run.error.message) == ("NonRetriableError", "card declined")


async def test_errors_outside_steps_have_their_own_budget(app: Tidings) -> None:
    attempts: list[int] = []

    @app.task(retry=NO_JITTER)
    async def job(ctx: Context, payload: None) -> None:
        attempts.append(ctx.attempt)
        raise KeyError("missing")

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("job")
        await t.advance(timedelta(hours=1))
        run = await t.get_run(h.id)
    assert attempts == [1, 2, 3]
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error.type == "KeyError"


async def test_attempt_timeout_interrupts_the_step_and_counts_against_it(app: Tidings) -> None:
    started = 0
    finished = 0

    async def slow() -> None:
        nonlocal started, finished
        started += 1
        await asyncio.sleep(30)
        finished += 1

    @app.task(timeout=0.05, retry=Retry(max_attempts=2, initial=1, jitter=False))
    async def job(ctx: Context, payload: None) -> None:
        await ctx.step("slow", slow)

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("job")
        run = await t.get_run(h.id)
        assert run.status is RunStatus.QUEUED
        await t.advance(timedelta(seconds=1))
        run = await t.get_run(h.id)
    assert (started, finished) == (2, 0)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert "exceeded its timeout" in run.error.message
    assert (run.steps[0].name, run.steps[0].attempts) == ("slow", 2)
