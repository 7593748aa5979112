"""Events: fan-out, durable waits, cancel-on, event ids accepted once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pydantic
import pytest

from tests.conftest import START
from tidings import CancelOn, Context, Event, RunStatus, Tidings
from tidings.errors import NotSerializableError, ValidationError
from tidings.testing import TestEngine


class Signup(pydantic.BaseModel):
    user_id: str


async def test_an_event_starts_one_run_per_subscribed_task(app: Tidings) -> None:
    seen: list[tuple[str, Any]] = []

    @app.task(on_event="user.registered")
    async def welcome(ctx: Context, payload: dict[str, Any]) -> None:
        seen.append(("welcome", payload))

    @app.task(on_event=["user.registered", "user.invited"])
    async def audit(ctx: Context, payload: dict[str, Any]) -> None:
        seen.append(("audit", payload))

    async with TestEngine(app, start=START) as t:
        receipt = await t.send_event("user.registered", {"userId": "u1"})
        other = await t.send_event("order.paid", {"id": 1})
    assert receipt.accepted
    assert len(receipt.run_ids) == 2
    assert sorted(seen) == [("audit", {"userId": "u1"}), ("welcome", {"userId": "u1"})]
    assert {app.get_run(r).task_id for r in receipt.run_ids} == {"welcome", "audit"}
    assert other.run_ids == ()


async def test_a_repeated_event_id_is_accepted_once(app: Tidings) -> None:
    runs: list[str] = []

    @app.task(on_event="lab.completed")
    async def notify(ctx: Context, payload: dict[str, Any]) -> None:
        runs.append(ctx.run_id)

    async with TestEngine(app, start=START) as t:
        first = await t.send_event("lab.completed", {"lab": 7}, id="lab-7")
        again = await t.send_event("lab.completed", {"lab": 7}, id="lab-7")
    assert (first.accepted, again.accepted) == (True, False)
    assert again.run_ids == first.run_ids
    assert len(runs) == 1


def test_bad_events_are_rejected_and_change_nothing(make_app: Any) -> None:
    app: Tidings = make_app(max_event_bytes=1000)

    @app.task(on_event="user.registered")
    async def welcome(ctx: Context, payload: Signup) -> None: ...

    with pytest.raises(ValidationError, match="non-empty"):
        app.send_event("", {})
    with pytest.raises(NotSerializableError, match=r"event 'x'.*set"):
        app.send_event("x", {"a": {1}})
    with pytest.raises(ValidationError, match="over the limit of 1,000"):
        app.send_event("x", {"blob": "a" * 2000})
    with pytest.raises(ValidationError, match=r"task 'welcome'.*user_id"):
        app.send_event("user.registered", {"userId": "u1"})
    with pytest.raises(ValidationError, match="tidings' own"):
        app.send_event("tidings/run.finished", {})
    assert app.list_runs() == []


async def test_wait_for_event_resumes_on_a_matching_event(app: Tidings) -> None:
    @app.task
    async def follow_up(ctx: Context, payload: dict[str, str]) -> Any:
        event = await ctx.wait_for_event(
            "quote.responded", match={"quoteId": payload["q"]}, timeout=timedelta(hours=48)
        )
        return None if event is None else {"data": event.data, "ts": event.ts.isoformat()}

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("follow-up", {"q": "q1"})
        other = await t.trigger("follow-up", {"q": "q2"})
        await t.advance(timedelta(hours=1))
        receipt = await t.send_event("quote.responded", {"quoteId": "q1", "answer": "yes"})
        run = await t.get_run(h.id)
        assert (await t.get_run(other.id)).status is RunStatus.WAITING
        await t.advance(timedelta(hours=48))
        timed_out = await t.get_run(other.id)
    assert receipt.run_ids == ()
    assert run.status is RunStatus.COMPLETED
    assert run.result == {
        "data": {"quoteId": "q1", "answer": "yes"},
        "ts": (START + timedelta(hours=1)).isoformat(),
    }
    assert timed_out.status is RunStatus.COMPLETED
    assert timed_out.result is None
    assert timed_out.finished_at == START + timedelta(hours=48)


async def test_only_events_sent_after_the_wait_began_count(app: Tidings) -> None:
    @app.task
    async def waiter(ctx: Context, payload: None) -> bool:
        await ctx.sleep(timedelta(minutes=10))
        event = await ctx.wait_for_event("ping", timeout=timedelta(hours=1))
        return event is not None

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("waiter")
        await t.send_event("ping", {})  # before the wait: ignored
        await t.advance(timedelta(minutes=30))
        assert (await t.get_run(h.id)).status is RunStatus.WAITING
        await t.send_event("ping", {})
        run = await t.get_run(h.id)
    assert run.result is True


async def test_one_event_resumes_every_matching_waiter_once(app: Tidings) -> None:
    resumed: list[str] = []

    @app.task
    async def waiter(ctx: Context, payload: str) -> None:
        event = await ctx.wait_for_event(
            "done", match={"batch": payload}, timeout=timedelta(days=1)
        )
        assert event is not None
        resumed.append(ctx.run_id)

    async with TestEngine(app, start=START) as t:
        handles = [await t.trigger("waiter", "b1") for _ in range(3)]
        await t.trigger("waiter", "b2")
        await t.send_event("done", {"batch": "b1"})
        await t.send_event("done", {"batch": "b1"})  # nobody is waiting any more
        await t.advance(timedelta(hours=1))
    assert sorted(resumed) == sorted(h.id for h in handles)


async def test_wait_without_timeout_is_a_type_error(app: Tidings) -> None:
    @app.task
    async def forever(ctx: Context, payload: None) -> None:
        await ctx.wait_for_event("x")

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("forever")
        run = await t.get_run(h.id)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error.type == "MissingTimeoutError"
    assert "needs a timeout" in run.error.message


async def test_a_long_timeout_is_allowed(app: Tidings) -> None:
    @app.task
    async def patient(ctx: Context, payload: None) -> Event | None:
        return await ctx.wait_for_event("x", timeout=timedelta(days=365))

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("patient")
        assert (await t.get_run(h.id)).wake_at == START + timedelta(days=365)


async def test_cancel_on_cancels_queued_and_waiting_runs_of_that_key(app: Tidings) -> None:
    sent: list[str] = []

    @app.task(
        on_event="appointment.created",
        cancel_on=[CancelOn("appointment.cancelled", match={"id": "appointmentId"})],
    )
    async def reminder(ctx: Context, payload: dict[str, Any]) -> None:
        await ctx.sleep(timedelta(hours=24))
        sent.append(payload["appointmentId"])

    async with TestEngine(app, start=START) as t:
        a = await t.send_event("appointment.created", {"appointmentId": "a1"})
        b = await t.send_event("appointment.created", {"appointmentId": "a2"})
        queued = await t.trigger("reminder", {"appointmentId": "a3"}, delay=3600)
        await t.send_event("appointment.cancelled", {"id": "a1"})
        await t.send_event("appointment.cancelled", {"id": "a3"})
        await t.advance(timedelta(days=2))
        statuses = [(await t.get_run(r)).status for r in (*a.run_ids, *b.run_ids, queued.id)]
    assert statuses == [RunStatus.CANCELLED, RunStatus.COMPLETED, RunStatus.CANCELLED]
    assert sent == ["a2"]


def test_cancel_on_needs_a_match() -> None:
    with pytest.raises(ValidationError, match="needs match"):
        CancelOn("x.cancelled")
    with pytest.raises(ValidationError, match="dotted path"):
        CancelOn("x.cancelled", match={"": "id"})


async def test_send_event_inside_a_task_is_memoized(app: Tidings) -> None:
    started: list[Any] = []

    @app.task(on_event="order.paid")
    async def receipt(ctx: Context, payload: dict[str, Any]) -> None:
        started.append(payload)

    @app.task
    async def checkout(ctx: Context, payload: None) -> list[str]:
        sent = await ctx.send_event("order.paid", {"order": 1})
        await ctx.sleep(60)
        return list(sent.run_ids)

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("checkout")
        await t.advance(timedelta(minutes=2))
        run = await t.get_run(h.id)
    assert started == [{"order": 1}]
    assert run.result is not None
    assert len(run.result) == 1
    assert (run.steps[0].name, run.steps[0].kind) == ("order.paid", "send_event")
