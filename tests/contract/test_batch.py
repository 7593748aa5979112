"""Batch on every store, on the virtual clock: triggers of one key gathered into one run
of their payloads, started when ``max_size`` is reached or ``timeout`` after the first."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from tests.conftest import START
from tidings import Batch, Context, Debounce, RunStatus, Singleton, Tidings, ValidationError
from tidings.testing import TestEngine

SECOND = timedelta(seconds=1)


def record(app: Tidings, **options: Any) -> list[tuple[datetime, list[Any]]]:
    got: list[tuple[datetime, list[Any]]] = []

    @app.task(batch=Batch(**options))
    async def send(ctx: Context, payload: list[Any]) -> int:
        got.append((ctx.now(), payload))
        return len(payload)

    return got


async def test_a_batch_fills_and_starts_at_once(app: Tidings) -> None:
    got = record(app, max_size=3, timeout=30 * SECOND)
    async with TestEngine(app, start=START) as t:
        handles = [await t.trigger("send", n) for n in range(7)]
        assert [p for _, p in got] == [[0, 1, 2], [3, 4, 5]]  # full: started at once
        assert all(at == START for at, _ in got)
        await t.advance(30 * SECOND - timedelta(microseconds=1))
        assert len(got) == 2
        await t.advance(timedelta(microseconds=1))
        runs = [await t.get_run(h.id) for h in handles]
    assert got[2] == (START + 30 * SECOND, [6])  # the rest at the timeout
    assert [h.created for h in handles] == [True, False, False] * 2 + [True]
    assert [r.result for r in runs] == [3] * 6 + [1]
    assert [r.coalesced for r in runs[::3]] == [3, 3, 1]
    assert len(set(runs[0].coalesced_ids)) == 3


async def test_a_batch_times_out_after_the_first_trigger(app: Tidings) -> None:
    got = record(app, max_size=100, timeout=30 * SECOND)
    async with TestEngine(app, start=START) as t:
        for n in range(4):
            await t.trigger("send", n)
            await t.advance(10 * SECOND)  # later triggers do not move the start
        await t.advance(30 * SECOND)
    assert got == [(START + 30 * SECOND, [0, 1, 2]), (START + 60 * SECOND, [3])]


async def test_batches_per_key_from_events(app: Tidings) -> None:
    got: list[list[Any]] = []

    @app.task(on_event="quote.created", batch=Batch(max_size=2, timeout=60, key="requestId"))
    async def quotes(ctx: Context, payload: list[Any]) -> None:
        got.append(payload)

    async with TestEngine(app, start=START) as t:
        sent = [
            await t.send_event("quote.created", {"requestId": r, "q": q})
            for r, q in [("r1", 1), ("r2", 2), ("r1", 3), ("r2", 4), ("r1", 5)]
        ]
        await t.advance(60)
        first = await t.get_run(sent[0].run_ids[0])
    assert sorted(tuple(p["q"] for p in batch) for batch in got) == [(1, 3), (2, 4), (5,)]
    assert first.status is RunStatus.COMPLETED
    assert first.coalesced_ids == (sent[0].event_id, sent[2].event_id)


async def test_trigger_many_fills_batches_in_one_transaction(app: Tidings) -> None:
    got = record(app, max_size=3, timeout=60, key="k")

    @app.task(singleton=Singleton(key="k", on_conflict="cancel"))
    async def latest(ctx: Context, payload: dict[str, Any]) -> int:
        return int(payload["n"])

    async with TestEngine(app, start=START) as t:
        handles = app.trigger_many("send", [{"k": k, "n": n} for n, k in enumerate("aaaabaaa")])
        singles = app.trigger_many("latest", [{"k": "x", "n": n} for n in range(3)])
        await t.advance(60)
        statuses = [(await t.get_run(h.id)).status for h in singles]
    batches = sorted([p["n"] for p in payload] for _, payload in got)
    assert batches == [[0, 1, 2], [3, 5, 6], [4], [7]]
    assert [h.created for h in handles] == [True, False, False, True, True, False, False, True]
    assert [h.created for h in singles] == [True, True, True]
    assert statuses == [RunStatus.CANCELLED, RunStatus.CANCELLED, RunStatus.COMPLETED]


async def test_max_size_one_runs_each_trigger_alone(app: Tidings) -> None:
    got = record(app, max_size=1, timeout=60)
    async with TestEngine(app, start=START) as t:
        for n in range(3):
            await t.trigger("send", n)
    assert [p for _, p in got] == [[0], [1], [2]]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (lambda: {"batch": Batch(0, 10)}, "Batch.max_size must be an int >= 1, got 0"),
        (lambda: {"batch": Batch(2, 0)}, "Batch.timeout must be positive"),
        (lambda: {"batch": Batch(2, 10, key="a..b")}, "Batch.key must be a dotted path"),
        (lambda: {"batch": 5}, "batch of task 'job' must be a tidings.Batch, got int"),
        (lambda: {"debounce": Debounce(0)}, "Debounce.period must be positive"),
        (lambda: {"debounce": Debounce(-1)}, "Debounce.period must be positive"),
        (
            lambda: {"debounce": Debounce(60, max_wait=30)},
            r"Debounce.max_wait \(0:00:30\) must be at least Debounce.period \(0:01:00\)",
        ),
        (lambda: {"debounce": Debounce(60, keep="middle")}, "Debounce.keep must be one of"),
        (lambda: {"debounce": Debounce(60, key="")}, "Debounce.key must be a dotted path"),
        (
            lambda: {"debounce": Debounce(60, key=3)},  # type: ignore[arg-type]
            "Debounce.key must be a dotted path",
        ),
        (lambda: {"singleton": Singleton(on_conflict="queue")}, "on_conflict must be one of"),
        (lambda: {"singleton": Singleton(key="user.")}, "Singleton.key must be a dotted path"),
        (
            lambda: {"batch": Batch(2, 10), "debounce": Debounce(5)},
            "cannot combine batch and debounce: both decide when",
        ),
        (
            lambda: {"singleton": Singleton(), "debounce": Debounce(5)},
            "cannot combine debounce and singleton",
        ),
        (
            lambda: {"singleton": Singleton(), "batch": Batch(2, 5)},
            "cannot combine batch and singleton",
        ),
    ],
)
def test_bad_declarations_are_refused_by_name(app: Tidings, options: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):

        @app.task(**options())
        async def job(ctx: Context, payload: Any) -> None: ...

    assert "job" not in app.tasks


class Quote(BaseModel):
    id: str


def test_a_list_of_payloads_needs_a_list_annotation(app: Tidings) -> None:
    with pytest.raises(ValidationError, match=r"annotate it as list\[Quote\]"):

        @app.task(batch=Batch(10, 60))
        async def quotes(ctx: Context, payload: Quote) -> None: ...

    @app.task(debounce=Debounce(60, keep="last"))  # one payload: the model is fine
    async def latest(ctx: Context, payload: Quote) -> None: ...

    assert "latest" in app.tasks


async def test_each_trigger_is_checked_against_the_lists_element_type(app: Tidings) -> None:
    with pytest.raises(ValidationError, match="annotate it as a list"):

        @app.task(batch=Batch(10, 60))
        async def counts(ctx: Context, payload: dict[str, int]) -> None: ...

    got: list[list[Quote]] = []

    @app.task(batch=Batch(2, 60))
    async def quotes(ctx: Context, payload: list[Quote]) -> int:
        got.append(payload)
        return len(payload)

    async with TestEngine(app, start=START) as t:
        with pytest.raises(ValidationError, match=r"does not match Quote: id"):
            await t.trigger("quotes", {"id": ["not", "text"]})
        await t.trigger("quotes", {"id": "q1"})
        await t.trigger("quotes", {"id": "q2"})
    assert [[q.id for q in batch] for batch in got] == [["q1", "q2"]]


def test_a_full_batch_takes_no_more_from_a_trigger_whose_clock_was_read_earlier(
    app: Tidings,
) -> None:
    # Two processes: the second read its clock, then waited for the key's lock while the
    # first filled the batch and made it due "now" (a moment after the second's now).
    record(app, max_size=2, timeout=60 * SECOND)
    first = app.trigger("send", 1)
    app.trigger("send", 2)
    full = app.get_run(first.id)
    assert full.coalesced == 2
    assert full.run_at is not None
    late = app.kernel.new_run("send", 3)
    earlier = full.run_at - timedelta(milliseconds=5)
    run_id, created = app.kernel.store.runs.create(late, earlier, app.kernel.idempotency_ttl, [])
    assert (run_id != first.id, created) == (True, True)
    assert app.get_run(first.id).coalesced == 2
    assert app.get_run(run_id).payload == [3]


def test_a_missing_key_is_refused_at_trigger(app: Tidings) -> None:
    record(app, max_size=2, timeout=5, key="user")
    with pytest.raises(ValidationError, match="batch key of task 'send' 'user' is missing"):
        app.trigger("send", {"other": 1})
    assert app.list_runs("send") == []
