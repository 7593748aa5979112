"""Events accepted now and delivered later (send_event(deliver_at=...), the HTTP API's
deliverAt / deliverAfter)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import START
from tidings import Context, Event, RunStatus, Tidings
from tidings.errors import ValidationError
from tidings.testing import TestEngine


async def test_a_delayed_event_starts_its_runs_at_the_delivery_time(app: Tidings) -> None:
    started: list[Any] = []

    @app.task(on_event="invoice.due")
    async def remind(ctx: Context, payload: dict[str, Any]) -> None:
        started.append((ctx.now(), payload))

    async with TestEngine(app, start=START) as t:
        receipt = await t.send_event(
            "invoice.due", {"invoice": 9}, id="inv-9", deliver_at=START + timedelta(hours=2)
        )
        assert receipt.accepted
        assert receipt.run_ids == ()
        await t.advance(timedelta(hours=1, minutes=59))
        assert started == []
        assert app.store.events.get_scheduled("inv-9") is not None
        await t.advance(timedelta(minutes=1))
    assert started == [(START + timedelta(hours=2), {"invoice": 9})]
    assert app.store.events.get_scheduled("inv-9") is None
    delivered = app.store.events.get("inv-9")
    assert delivered is not None
    assert delivered[1] == START + timedelta(hours=2)


async def test_a_delayed_event_id_is_accepted_once_before_and_after_delivery(
    app: Tidings,
) -> None:
    runs: list[str] = []

    @app.task(on_event="invoice.due")
    async def remind(ctx: Context, payload: Any) -> None:
        runs.append(ctx.run_id)

    later = START + timedelta(minutes=5)
    async with TestEngine(app, start=START) as t:
        first = await t.send_event("invoice.due", {}, id="inv-1", deliver_at=later)
        waiting = await t.send_event("invoice.due", {}, id="inv-1", deliver_at=later)
        now_too = await t.send_event("invoice.due", {}, id="inv-1")
        await t.advance(timedelta(minutes=10))
        after = await t.send_event("invoice.due", {}, id="inv-1", deliver_at=later)
    assert (first.accepted, waiting.accepted, after.accepted) == (True, False, False)
    # the immediate send of the same id went first; the delayed copy is then a repeat
    assert now_too.accepted
    assert len(runs) == 1
    assert after.run_ids == (runs[0],)


async def test_a_delayed_event_resumes_a_wait_that_began_before_delivery(app: Tidings) -> None:
    @app.task
    async def waiter(ctx: Context, payload: Any) -> Any:
        ev: Event | None = await ctx.wait_for_event(
            "quote.responded", match={"quoteId": "q1"}, timeout=timedelta(days=1)
        )
        return None if ev is None else ev.data

    async with TestEngine(app, start=START) as t:
        await t.send_event(
            "quote.responded", {"quoteId": "q1"}, deliver_at=START + timedelta(hours=1)
        )
        h = await t.trigger("waiter")
        await t.advance(timedelta(hours=2))
        run = await t.get_run(h.id)
    assert run.status is RunStatus.COMPLETED
    assert run.result == {"quoteId": "q1"}


async def test_a_past_delivery_time_sends_at_once(app: Tidings) -> None:
    @app.task(on_event="ping")
    async def pong(ctx: Context, payload: Any) -> None:
        return None

    async with TestEngine(app, start=START) as t:
        receipt = await t.send_event("ping", {}, deliver_at=START - timedelta(seconds=1))
    assert len(receipt.run_ids) == 1


def test_bad_delivery_times_are_rejected(app: Tidings) -> None:
    with pytest.raises(ValidationError, match="deliver_at"):
        app.send_event("ping", {}, deliver_at=START.replace(tzinfo=None))
    assert app.store.events.next_scheduled() is None


def test_only_one_of_two_schedulers_delivers(make_app: Any) -> None:
    first: Tidings = make_app()
    second: Tidings = make_app()
    for a in (first, second):

        @a.task(on_event="tick")
        async def count(ctx: Context, payload: Any) -> None:
            return None

    later = first.clock.now() + timedelta(hours=1)
    first.send_event("tick", {}, id="t1", deliver_at=later)
    event = first.store.events.get_scheduled("t1")
    assert event is not None
    assert event[1] == later
    built, runs, cancels = second.kernel.build_event("tick", {}, "t1", event[0].ts)
    ttl = timedelta(days=1)
    sent = second.store.events.deliver_scheduled(built, runs, cancels, later, ttl)
    again = first.store.events.deliver_scheduled(built, runs, cancels, later, ttl)
    assert sent is not None
    assert len(sent.run_ids) == 1
    assert again is None
    assert len(first.list_runs()) == 1
