"""Flow control on every store: concurrency limits (per key), rate limits (per key).

Concurrency is measured, not inferred: each attempt records when its work began and
ended, and the largest number of overlapping intervals is the concurrency reached.
Rate limits are checked on the virtual clock from the runs' ``started_at``.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.conftest import START
from tests.contract.test_worker import running
from tidings import Context, RateLimit, RunStatus, Tidings, ValidationError
from tidings.testing import TestEngine


class Intervals:
    """Start and end times of every piece of work, grouped by a label (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spans: dict[str, list[tuple[float, float]]] = defaultdict(list)

    async def work(self, label: str, seconds: float) -> None:
        began = time.monotonic()
        await asyncio.sleep(seconds)
        with self._lock:
            self.spans[label].append((began, time.monotonic()))

    def peak(self, label: str | None = None) -> int:
        """Most intervals open at one instant (of one label, or of all)."""
        spans = self.spans[label] if label else [s for v in self.spans.values() for s in v]
        edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
        open_, best = 0, 0
        for _, delta in edges:  # an end sorts before a start at the same instant
            open_ += delta
            best = max(best, open_)
        return best


def started(app: Tidings, task_id: str) -> list[datetime]:
    runs = app.list_runs(task_id=task_id, limit=1000)
    return sorted(r.started_at for r in runs if r.started_at is not None)


def most_in_window(starts: list[datetime], period: timedelta) -> int:
    """Most starts inside any half-open window [t, t + period)."""
    return max(sum(1 for s in starts if t <= s < t + period) for t in starts)


# -- concurrency ---------------------------------------------------------------------
def test_concurrency_limit_holds_across_workers(app: Tidings) -> None:
    spans = Intervals()

    @app.task(concurrency=2)
    async def limited(ctx: Context, payload: int) -> int:
        await ctx.step("work", spans.work, "all", 0.05)
        return payload

    handles = [app.trigger("limited", i) for i in range(10)]
    with (
        running(app, concurrency=5, poll_interval=0.02),
        running(app, concurrency=5, poll_interval=0.02),
    ):
        assert [h.result(timeout=30) for h in handles] == list(range(10))
    assert spans.peak() == 2


async def test_concurrency_per_key_and_trigger_override(app: Tidings) -> None:
    spans = Intervals()

    @app.task(concurrency=1, concurrency_key="customer.id")
    async def sync_customer(ctx: Context, payload: dict[str, Any]) -> None:
        label = payload.get("as", payload["customer"]["id"])
        await ctx.step("work", spans.work, label, 0.02)

    async with TestEngine(app, start=START) as t:
        for customer in ["a", "a", "a", "b", "b", "c"]:
            app.trigger("sync-customer", {"customer": {"id": customer}})
        # the override puts this run in key "a" whatever its payload says
        app.trigger("sync-customer", {"customer": {"id": "z"}, "as": "a"}, concurrency_key="a")
        await t.run_due()
    assert {k: spans.peak(k) for k in spans.spans} == {"a": 1, "b": 1, "c": 1}
    assert len(spans.spans["a"]) == 4
    assert spans.peak() == 3  # different keys ran side by side
    assert {r.status for r in app.list_runs("sync-customer")} == {RunStatus.COMPLETED}


async def test_callable_concurrency_key(app: Tidings) -> None:
    spans = Intervals()

    @app.task(concurrency=1, concurrency_key=lambda p: p["region"].upper())
    async def per_region(ctx: Context, payload: dict[str, str]) -> None:
        await ctx.step("work", spans.work, payload["region"].upper(), 0.02)

    async with TestEngine(app, start=START) as t:
        for region in ["eu", "EU", "us"]:
            app.trigger("per-region", {"region": region})
        await t.run_due()
    assert spans.peak("EU") == 1
    assert len(spans.spans["EU"]) == 2
    assert spans.peak() == 2


async def test_waiting_runs_hold_no_slot(app: Tidings) -> None:
    spans = Intervals()

    @app.task(concurrency=1)
    async def nap(ctx: Context, payload: int) -> int:
        await ctx.step("before", spans.work, "all", 0.01)
        await ctx.sleep(timedelta(hours=1))
        await ctx.step("after", spans.work, "all", 0.01)
        return payload

    async with TestEngine(app, start=START) as t:
        handles = [app.trigger("nap", i) for i in range(3)]
        await t.run_due()
        # each started and went to sleep: a sleeping run frees its slot for the next
        assert [(await t.get_run(h.id)).status for h in handles] == [RunStatus.WAITING] * 3
        await t.advance(timedelta(hours=1))
        runs = [await t.get_run(h.id) for h in handles]
    assert [r.status for r in runs] == [RunStatus.COMPLETED] * 3
    assert spans.peak() == 1


async def test_runs_over_the_limit_stay_queued_and_start_by_priority(app: Tidings) -> None:
    seen: list[tuple[int, list[str]]] = []

    @app.task(concurrency=1)
    async def one_at_a_time(ctx: Context, payload: int) -> None:
        others = await asyncio.to_thread(app.list_runs, "one-at-a-time", limit=100)
        seen.append((payload, sorted(str(r.status) for r in others if r.id != ctx.run_id)))

    async with TestEngine(app, start=START) as t:
        for i, priority in enumerate([0, 5, 1, 5]):
            due = START - timedelta(seconds=10 - i)  # all due now, in trigger order
            app.trigger("one-at-a-time", i, priority=priority, run_at=due)
        await t.run_due()
    # priority first, then due (trigger) order
    assert [p for p, _ in seen] == [1, 3, 2, 0]
    first_others = seen[0][1]
    assert first_others == ["QUEUED", "QUEUED", "QUEUED"]  # never failed, never running
    assert seen[-1][1] == ["COMPLETED"] * 3


async def test_unlimited_tasks_are_not_held_back_by_a_blocked_one(app: Tidings) -> None:
    ran: list[str] = []

    @app.task(concurrency=1)
    async def slow(ctx: Context, payload: None) -> None:
        await ctx.sleep(timedelta(minutes=5))

    @app.task
    async def free(ctx: Context, payload: None) -> None:
        ran.append("free")

    async with TestEngine(app, start=START) as t:
        for _ in range(5):
            app.trigger("slow")
        app.trigger("free")
        await t.run_due()
        assert ran == ["free"]
        await t.advance(timedelta(minutes=30))
    assert {r.status for r in app.list_runs("slow")} == {RunStatus.COMPLETED}


# -- rate limits ---------------------------------------------------------------------
async def test_rate_limit_spaces_starts_and_delays_without_dropping(app: Tidings) -> None:
    @app.task(rate_limit=RateLimit(limit=1, period=timedelta(seconds=2)))
    async def notion_sync(ctx: Context, payload: int) -> int:
        return payload

    async with TestEngine(app, start=START) as t:
        handles = [app.trigger("notion-sync", i) for i in range(6)]
        await t.run_due()
        statuses = [(await t.get_run(h.id)).status for h in handles]
        assert statuses.count(RunStatus.COMPLETED) == 1
        assert statuses.count(RunStatus.QUEUED) == 5  # delayed, not dropped
        await t.advance(timedelta(seconds=30))
        runs = [await t.get_run(h.id) for h in handles]
    assert [r.status for r in runs] == [RunStatus.COMPLETED] * 6
    starts = started(app, "notion-sync")
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= timedelta(seconds=2)
    assert starts[-1] - starts[0] == timedelta(seconds=10)  # and no later than needed


async def test_rate_limit_counts_starts_in_a_sliding_window(app: Tidings) -> None:
    period = timedelta(seconds=10)

    @app.task(rate_limit=RateLimit(2, period))
    async def burst(ctx: Context, payload: int) -> None:
        await ctx.sleep(timedelta(seconds=1))  # a resume is not a start

    async with TestEngine(app, start=START) as t:
        for i in range(7):
            app.trigger("burst", i)
        await t.advance(timedelta(seconds=3))
        for i in range(2):  # more arrive mid-window
            app.trigger("burst", 100 + i)
        await t.advance(timedelta(minutes=2))
    starts = started(app, "burst")
    assert len(starts) == 9
    assert most_in_window(starts, period) == 2
    assert {r.status for r in app.list_runs("burst")} == {RunStatus.COMPLETED}


async def test_rate_limit_per_key(app: Tidings) -> None:
    @app.task(rate_limit=RateLimit(1, timedelta(seconds=5), key="workspace"))
    async def per_workspace(ctx: Context, payload: dict[str, Any]) -> str:
        return str(payload["workspace"])

    async with TestEngine(app, start=START) as t:
        handles = [
            app.trigger("per-workspace", {"workspace": w, "n": n})
            for n, w in enumerate(["w1", "w1", "w1", "w2", "w2"])
        ]
        await t.advance(timedelta(minutes=1))
        runs = [await t.get_run(h.id) for h in handles]
    by_key: dict[str, list[datetime]] = defaultdict(list)
    for r in runs:
        assert r.status is RunStatus.COMPLETED
        assert r.started_at is not None
        by_key[r.payload["workspace"]].append(r.started_at)
    assert sorted(by_key["w1"]) == [START + timedelta(seconds=s) for s in (0, 5, 10)]
    assert sorted(by_key["w2"]) == [START + timedelta(seconds=s) for s in (0, 5)]


async def test_rate_and_concurrency_together(app: Tidings) -> None:
    spans = Intervals()

    @app.task(concurrency=1, rate_limit=RateLimit(2, timedelta(seconds=4)))
    async def both(ctx: Context, payload: int) -> None:
        await ctx.step("work", spans.work, "all", 0.01)

    async with TestEngine(app, start=START) as t:
        for i in range(6):
            app.trigger("both", i)
        await t.advance(timedelta(minutes=1))
    starts = started(app, "both")
    assert len(starts) == 6
    assert most_in_window(starts, timedelta(seconds=4)) == 2
    assert spans.peak() == 1


# -- bad input -----------------------------------------------------------------------
def test_trigger_time_key_errors_name_the_field(app: Tidings) -> None:
    @app.task(concurrency=2, concurrency_key="customer.id")
    async def keyed(ctx: Context, payload: dict[str, Any]) -> None: ...

    @app.task(rate_limit=RateLimit(1, 1, key=lambda p: p["n"]))
    async def bad_callable(ctx: Context, payload: dict[str, Any]) -> None: ...

    @app.task
    async def plain(ctx: Context, payload: None) -> None: ...

    with pytest.raises(ValidationError, match=r"concurrency_key of task 'keyed'.*customer\.id"):
        app.trigger("keyed", {"customer": {}})
    with pytest.raises(ValidationError, match=r"rate_limit key of task 'bad-callable'.*str"):
        app.trigger("bad-callable", {"n": 3})
    with pytest.raises(ValidationError, match="task 'plain' has no concurrency limit"):
        app.trigger("plain", concurrency_key="x")
    with pytest.raises(ValidationError, match="concurrency_key must be a string"):
        app.trigger("keyed", {"customer": {"id": 1}}, concurrency_key=7)  # type: ignore[arg-type]
    assert app.list_runs() == []
    # a number at the path is a key too
    app.trigger("keyed", {"customer": {"id": 1}})
