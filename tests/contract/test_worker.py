"""The worker loop in-process: results, wake-ups, priorities, queues, reclaiming leases."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest

from tidings import Context, Retry, RunFailedError, RunStatus, Tidings
from tidings.engine.worker import Worker


@contextmanager
def running(app: Tidings, **options: Any) -> Iterator[Worker]:
    """A real worker on its own event loop in a background thread."""
    worker = app.worker(**options)
    thread = threading.Thread(target=asyncio.run, args=(worker.run(),), daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=30)
        assert not thread.is_alive()


def test_result_waits_for_the_worker(app: Tidings) -> None:
    @app.task
    async def add(ctx: Context, payload: dict[str, int]) -> int:
        a = await ctx.step("a", lambda: payload["a"])
        await ctx.sleep(0.05)
        return int(a) + payload["b"]

    @app.task(retry=Retry(max_attempts=1))
    async def broken(ctx: Context, payload: None) -> None:
        raise RuntimeError("nope")

    with running(app, poll_interval=30):
        # a long poll interval: only the in-process wake-up can make this prompt
        assert app.trigger("add", {"a": 2, "b": 3}).result(timeout=10) == 5
        with pytest.raises(RunFailedError, match="RuntimeError: nope"):
            app.trigger("broken").result(timeout=20)


def test_higher_priority_runs_first(app: Tidings) -> None:
    order: list[str] = []

    @app.task
    async def job(ctx: Context, payload: str) -> None:
        order.append(payload)

    for name, priority in [("low", 0), ("high", 10), ("mid", 5)]:
        app.trigger("job", name, priority=priority)
    with running(app, concurrency=1):
        app.trigger("job", "last", priority=-1).result(timeout=10)
    assert order == ["high", "mid", "low", "last"]


def test_worker_only_claims_its_queues(app: Tidings) -> None:
    @app.task(queue="emails")
    async def email(ctx: Context, payload: None) -> str:
        return "sent"

    @app.task
    async def other(ctx: Context, payload: None) -> str:
        return "done"

    skipped = app.trigger("other")
    with running(app, queues=["emails"]):
        assert app.trigger("email").result(timeout=10) == "sent"
    assert app.get_run(skipped.id).status is RunStatus.QUEUED


def test_expired_lease_is_reclaimed_and_replays_from_the_last_step(
    make_app: Callable[..., Tidings],
) -> None:
    app = make_app(lease=timedelta(seconds=0.3))
    calls: list[str] = []

    def record(name: str, value: int) -> int:
        calls.append(name)
        return value

    @app.task
    async def job(ctx: Context, payload: None) -> list[Any]:
        first = await ctx.step("first", record, "first", 1)
        second = await ctx.step("second", record, "second", 2)
        return [first, second]

    handle = app.trigger("job")
    # A worker that claims the run, records one step and dies without a word.
    store = app.store
    now = app.clock.now()
    claimed = store.runs.claim("dead-worker", None, now, now + app.lease, 10)
    assert [c.id for c in claimed] == [handle.id]
    from tidings.store.runs import StepRecord

    store.runs.save_step(
        handle.id,
        claimed[0].lease_token,
        StepRecord("first", "step", "completed", 1, "1", None, now, now),
    )
    assert app.get_run(handle.id).status is RunStatus.RUNNING
    with running(app, poll_interval=0.05):
        assert handle.result(timeout=10) == [1, 2]
    assert calls == ["second"]
    run = app.get_run(handle.id)
    assert [(s.name, s.attempts) for s in run.steps] == [("first", 1), ("second", 1)]


def test_stopping_releases_runs_that_outlast_the_grace_period(app: Tidings) -> None:
    entered = threading.Event()

    @app.task
    async def stubborn(ctx: Context, payload: None) -> None:
        async def hold() -> None:
            entered.set()
            await asyncio.sleep(60)

        await ctx.step("hold", hold)

    handle = app.trigger("stubborn")
    with running(app, grace=timedelta(seconds=0.2)):
        assert entered.wait(10)
    run = app.get_run(handle.id)
    # handed back untouched: another worker picks it up at once, no attempt counted
    assert run.status is RunStatus.QUEUED
    assert run.attempt == 1
    assert run.steps == []


def test_a_run_that_keeps_killing_its_workers_is_failed(app: Tidings) -> None:
    @app.task
    async def job(ctx: Context, payload: None) -> str:
        return "never"

    handle = app.trigger("job")
    store, now = app.store, app.clock.now()
    for i in range(7):  # seven workers claim it and vanish before their lease runs out
        moment = now + timedelta(milliseconds=i)
        assert store.runs.claim(f"doomed-{i}", None, moment, moment, 1)
    with running(app, poll_interval=0.05), pytest.raises(RunFailedError) as failed:
        handle.result(timeout=10)
    assert failed.value.error is not None
    assert failed.value.error.type == "WorkerLostError"
    # six vanished workers after the first, and this worker took it over once more
    assert "taken over 7 times" in failed.value.error.message


def test_a_reclaim_after_a_finished_attempt_does_not_count_against_the_run(
    app: Tidings,
) -> None:
    @app.task
    async def job(ctx: Context, payload: None) -> str:
        await ctx.sleep(0.01)
        return "done"

    handle = app.trigger("job")
    store, now = app.store, app.clock.now()
    for i in range(4):
        moment = now + timedelta(milliseconds=i)
        assert store.runs.claim(f"flaky-{i}", None, moment, moment, 1)
    with running(app, poll_interval=0.05):
        assert handle.result(timeout=10) == "done"
