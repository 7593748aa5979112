"""Debounce on every store, on the virtual clock: a burst of triggers of one key becomes
one run, started ``period`` after the last of them or ``max_wait`` after the first."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.conftest import START
from tidings import Context, Debounce, RunStatus, Tidings, TriggerRequest, ValidationError
from tidings.testing import TestEngine

MINUTE = timedelta(minutes=1)


def record(app: Tidings, **options: Any) -> list[tuple[datetime, Any]]:
    """Declare task "sync" with ``Debounce(**options)``; what its runs got, and when."""
    got: list[tuple[datetime, Any]] = []

    @app.task(debounce=Debounce(**options))
    async def sync(ctx: Context, payload: Any) -> None:
        got.append((ctx.now(), payload))

    return got


async def test_a_burst_becomes_one_run_period_after_the_last(app: Tidings) -> None:
    got = record(app, period=5 * MINUTE, key="user")
    async with TestEngine(app, start=START) as t:
        first = await t.trigger("sync", {"user": "u1", "n": 1})
        handles = [first]
        for n in (2, 3):
            await t.advance(2 * MINUTE)
            handles.append(await t.trigger("sync", {"user": "u1", "n": n}))
        assert {h.id for h in handles} == {first.id}
        assert [h.created for h in handles] == [True, False, False]
        await t.advance(5 * MINUTE - timedelta(seconds=1))
        assert got == []  # the quiet time counts from the last trigger
        await t.advance(timedelta(seconds=1))
        run = await t.get_run(first.id)
    assert got == [(START + 9 * MINUTE, {"user": "u1", "n": 3})]  # keep="last"
    assert run.status is RunStatus.COMPLETED
    assert run.coalesced == 3
    assert len(run.coalesced_ids) == 3
    assert all(i.startswith("trg_") for i in run.coalesced_ids)


@pytest.mark.parametrize(
    ("keep", "expected"),
    [("first", {"n": 1}), ("last", {"n": 3}), ("all", [{"n": 1}, {"n": 2}, {"n": 3}])],
)
async def test_keep_chooses_the_payload(app: Tidings, keep: str, expected: Any) -> None:
    got = record(app, period=MINUTE, keep=keep)
    async with TestEngine(app, start=START) as t:
        for n in (1, 2, 3):
            await t.trigger("sync", {"n": n})
            await t.advance(timedelta(seconds=10))
        await t.advance(MINUTE)
    assert [payload for _, payload in got] == [expected]


async def test_a_trigger_exactly_at_period_starts_a_new_run(app: Tidings) -> None:
    got = record(app, period=MINUTE, keep="all")
    async with TestEngine(app, start=START) as t:
        a = await t.trigger("sync", {"n": 1})
        await t.advance(MINUTE - timedelta(microseconds=1))
        b = await t.trigger("sync", {"n": 2})  # just within: joins, start moves on
        await t.advance(MINUTE)  # exactly period after b: its run is due, and ran
        c = await t.trigger("sync", {"n": 3})
        await t.advance(MINUTE)
    assert b.id == a.id
    assert not b.created
    assert c.id != a.id
    assert c.created
    assert got == [
        (START + 2 * MINUTE - timedelta(microseconds=1), [{"n": 1}, {"n": 2}]),
        (START + 3 * MINUTE - timedelta(microseconds=1), [{"n": 3}]),
    ]


async def test_a_trigger_at_the_due_time_of_an_unclaimed_run_starts_a_new_one(
    app: Tidings,
) -> None:
    """Whether a worker has claimed the due run yet does not matter: due is due."""
    record(app, period=MINUTE)
    async with TestEngine(app, start=START) as t:
        a = await t.trigger("sync", {"n": 1})
    # no engine is running now: the run stays queued at its due time
    async with TestEngine(app, start=START + MINUTE) as t:
        b = app.trigger("sync", {"n": 2})
        await t.advance(MINUTE)
        runs = {r.id: r for r in app.list_runs("sync")}
    assert b.id != a.id
    assert b.created
    assert {r.payload["n"] for r in runs.values()} == {1, 2}
    assert {r.status for r in runs.values()} == {RunStatus.COMPLETED}


async def test_max_wait_starts_the_run_while_triggers_keep_coming(app: Tidings) -> None:
    got = record(app, period=MINUTE, max_wait=5 * MINUTE, keep="all")
    async with TestEngine(app, start=START) as t:
        ids = []
        for n in range(9):  # every 40 s, never a quiet minute
            ids.append((await t.trigger("sync", {"n": n})).id)
            await t.advance(timedelta(seconds=40))
        await t.advance(2 * MINUTE)
    # the first run takes the triggers of its first five minutes (0 s .. 280 s) and
    # starts at 300 s; the trigger at 320 s opens the next run
    assert got[0] == (START + 5 * MINUTE, [{"n": n} for n in range(8)])
    assert got[1] == (START + timedelta(seconds=320) + MINUTE, [{"n": 8}])
    assert len(set(ids[:8])) == 1
    assert ids[8] != ids[0]


async def test_keys_debounce_apart_and_every_trigger_lands_once(app: Tidings) -> None:
    got = record(app, period=MINUTE, key="user", keep="all")
    async with TestEngine(app, start=START) as t:
        for n in range(12):
            await t.trigger("sync", {"user": f"u{n % 3}", "n": n})
        await t.advance(2 * MINUTE)
        runs = app.list_runs("sync")
    assert len(got) == 3
    landed = sorted(p["n"] for _, payloads in got for p in payloads)
    assert landed == list(range(12))
    assert sorted(r.coalesced for r in runs) == [4, 4, 4]


async def test_events_coalesce_and_the_run_names_them(app: Tidings) -> None:
    got: list[Any] = []

    @app.task(on_event="note.synced", debounce=Debounce(MINUTE, key="userId", keep="all"))
    async def digest(ctx: Context, payload: Any) -> None:
        got.append(payload)

    async with TestEngine(app, start=START) as t:
        receipts = [
            await t.send_event("note.synced", {"userId": "u1", "note": n}) for n in range(3)
        ]
        await t.advance(MINUTE)
        run = await t.get_run(receipts[0].run_ids[0])
    assert {r.run_ids for r in receipts} == {(run.id,)}
    assert got == [[{"userId": "u1", "note": n} for n in range(3)]]
    assert run.coalesced_ids == tuple(r.event_id for r in receipts)


async def test_trigger_many_and_idempotency_keys(app: Tidings) -> None:
    got = record(app, period=MINUTE, key="user", keep="all")
    async with TestEngine(app, start=START) as t:
        made = app.trigger_batch(
            [TriggerRequest("sync", {"user": "a", "n": n}) for n in range(3)]
            + [TriggerRequest("sync", {"user": "b", "n": 9}, idempotency_key="k9")]
        )
        again = await t.trigger("sync", {"user": "b", "n": 10}, idempotency_key="k10")
        repeat = await t.trigger("sync", {"user": "b", "n": 10}, idempotency_key="k10")
        await t.advance(MINUTE)
    assert len({h.id for h in made[:3]}) == 1
    assert again.id == made[3].id == repeat.id
    assert not repeat.created
    assert sorted(len(p) for _, p in got) == [2, 3]  # the repeat of k10 added nothing


async def test_a_schedule_and_child_runs_are_debounced_too(app: Tidings) -> None:
    got = record(app, period=10 * MINUTE, max_wait=30 * MINUTE, keep="all")

    @app.task(cron="* * * * *")
    async def tick(ctx: Context, payload: Any) -> None:
        await ctx.trigger("sync", {"at": payload["timestamp"]})

    async with TestEngine(app, start=START) as t:
        await t.advance(30 * MINUTE)  # a tick a minute, each a child: no quiet time
        assert got == []
        await t.advance(MINUTE)
    # max_wait after the first tick (9:01): the ticks of 9:01 to 9:30
    assert [(at, len(payloads)) for at, payloads in got] == [(START + 31 * MINUTE, 30)]


async def test_two_parents_waiting_on_one_debounced_child_both_get_its_result(
    app: Tidings,
) -> None:
    @app.task(debounce=Debounce(MINUTE, keep="all"))
    async def total(ctx: Context, payload: list[int]) -> int:
        return sum(payload)

    @app.task
    async def parent(ctx: Context, payload: int) -> Any:
        return await ctx.trigger_and_wait("total", payload)

    async with TestEngine(app, start=START) as t:
        first = await t.trigger("parent", 1)
        second = await t.trigger("parent", 2)
        await t.advance(2 * MINUTE)
        results = [(await t.get_run(h.id)).result for h in (first, second)]
    assert results == [3, 3]


def test_a_delayed_trigger_is_refused(app: Tidings) -> None:
    record(app, period=MINUTE)
    with pytest.raises(ValidationError, match=r"uses debounce.*without delay or run_at"):
        app.trigger("sync", {}, delay=timedelta(seconds=5))
    assert app.list_runs("sync") == []
