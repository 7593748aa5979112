"""Errors no retry can fix fail the run at once (Retry.non_retriable); payloads are
checked at the door against the payload's annotation; an event nothing hears says so;
the worker logs each run's end in one line."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pydantic
import pytest

from tests.conftest import START
from tidings import Context, Retry, RunStatus, Tidings, TriggerRequest
from tidings.errors import UnknownRecipientError, ValidationError
from tidings.testing import TestEngine


class Profile(pydantic.BaseModel):
    complete: bool


def call_undefined() -> None:
    send_welcome()  # type: ignore[name-defined]  # noqa: F821 - the point of the test


async def test_a_name_error_in_task_code_fails_the_run_on_its_first_attempt(app: Tidings) -> None:
    @app.task(retry=Retry(max_attempts=5))
    async def drip(ctx: Context, payload: dict[str, Any]) -> None:
        await ctx.step("welcome", call_undefined)

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("drip", {"userId": "u1"})
        run = await t.get_run(h.id)
    assert run.status is RunStatus.FAILED
    assert run.attempt == 1
    assert run.error is not None
    assert run.error.type == "NameError"
    assert "send_welcome" in run.error.message


async def test_validation_and_unknown_recipient_errors_are_not_retried(app: Tidings) -> None:
    app.notification_type("hello", channels=("in_app",))

    @app.task(retry=Retry(max_attempts=4))
    async def check(ctx: Context, payload: dict[str, Any]) -> bool:
        profile = await ctx.step("load", lambda: Profile.model_validate({"complete": "maybe"}))
        return bool(profile.complete)

    @app.task(retry=Retry(max_attempts=4))
    async def greet(ctx: Context, payload: dict[str, Any]) -> None:
        await ctx.notify("hello", to="nobody", data={})

    async with TestEngine(app, start=START) as t:
        checked = await t.get_run((await t.trigger("check", {})).id)
        greeted = await t.get_run((await t.trigger("greet", {})).id)
    assert checked.status is RunStatus.FAILED
    assert checked.attempt == 1
    assert checked.error is not None
    assert checked.error.type == "ValidationError"
    assert greeted.status is RunStatus.FAILED
    assert greeted.attempt == 1
    assert greeted.error is not None
    assert greeted.error.type == "UnknownRecipientError"


async def test_non_retriable_is_configurable(app: Tidings) -> None:
    class Declined(Exception):
        pass

    calls: list[str] = []

    def undefined() -> None:
        calls.append("undefined")
        raise NameError("name 'x' is not defined")

    def declined() -> None:
        calls.append("declined")
        raise Declined("card declined")

    no_retry = Retry(max_attempts=3, initial=1, jitter=False, non_retriable=())

    @app.task(retry=no_retry)
    async def retries_everything(ctx: Context, payload: None) -> None:
        await ctx.step("call", undefined)

    @app.task(retry=Retry(non_retriable=(*Retry.DEFAULT_NON_RETRIABLE, Declined)))
    async def charge(ctx: Context, payload: None) -> None:
        await ctx.step("charge", declined)

    async with TestEngine(app, start=START) as t:
        everything = await t.trigger("retries-everything")
        charged = await t.trigger("charge")
        await t.advance(timedelta(minutes=5))
        a = await t.get_run(everything.id)
        b = await t.get_run(charged.id)
    assert a.status is RunStatus.FAILED
    assert a.attempt == 3
    assert calls.count("undefined") == 3
    assert b.status is RunStatus.FAILED
    assert b.attempt == 1
    assert calls.count("declined") == 1


def test_non_retriable_must_be_exception_classes() -> None:
    with pytest.raises(ValidationError, match="non_retriable must be a tuple of exception"):
        Retry(non_retriable=("NameError",))  # type: ignore[arg-type]
    assert Retry(non_retriable=KeyError).non_retriable == (KeyError,)  # type: ignore[arg-type]
    assert UnknownRecipientError in Retry().non_retriable


@dataclass
class Order:
    order_id: str
    qty: int


def typed_tasks(app: Tidings) -> None:
    @app.task(on_event="order.placed")
    async def ship_order(ctx: Context, order: dict[str, Any]) -> str:
        return str(order["orderId"])

    @app.task
    async def pack(ctx: Context, order: Order) -> int:
        return order.qty

    @app.task
    async def count(ctx: Context, n: int) -> int:
        return n


def test_payloads_are_checked_against_their_annotation_at_the_door(app: Tidings) -> None:
    typed_tasks(app)
    with pytest.raises(ValidationError, match=r"task 'ship-order' does not match dict"):
        app.trigger("ship-order", 5)
    with pytest.raises(ValidationError, match=r"task 'pack' does not match Order: qty: "):
        app.trigger("pack", {"order_id": "o1", "qty": "many"})
    with pytest.raises(ValidationError, match=r"task 'count'"):
        app.trigger_many("count", [1, "two"])
    with pytest.raises(ValidationError, match=r"task 'count'"):
        app.trigger_batch([TriggerRequest("count", 1), TriggerRequest("count", "two")])
    with pytest.raises(ValidationError, match=r"task 'ship-order' does not match dict"):
        app.send_event("order.placed", [1, 2])
    assert app.list_runs() == []


async def test_annotated_payloads_reach_the_task_as_their_type(app: Tidings) -> None:
    typed_tasks(app)
    async with TestEngine(app, start=START) as t:
        packed = await t.trigger("pack", {"order_id": "o1", "qty": "3"})
        counted = await t.trigger("count", 7)
        a, b = await t.get_run(packed.id), await t.get_run(counted.id)
    assert a.status is RunStatus.COMPLETED
    assert a.result == 3
    assert a.payload == {"order_id": "o1", "qty": 3}  # stored as the annotation made it
    assert b.result == 7


def test_an_event_nothing_listens_for_is_recorded_with_a_warning(app: Tidings) -> None:
    typed_tasks(app)
    heard = app.send_event("order.placed", {"orderId": "o1"})
    unheard = app.send_event("order.plcaed", {"orderId": "o1"})
    assert heard.warning is None
    assert len(heard.run_ids) == 1
    assert unheard.run_ids == ()
    assert unheard.warning is not None
    assert "nothing listens for event 'order.plcaed'" in unheard.warning
    later = app.send_event("nobody.cares", {}, deliver_at=START.replace(year=2100))
    assert later.warning is not None
    assert "no task has on_event" in later.warning


async def test_the_worker_logs_one_line_per_run_outcome(
    app: Tidings, caplog: pytest.LogCaptureFixture
) -> None:
    @app.task(retry=Retry(max_attempts=2, initial=1, jitter=False))
    async def flaky(ctx: Context, payload: None) -> str:
        if ctx.attempt == 1:
            raise ConnectionError("timed out\nsecond line")
        return "ok"

    @app.task
    async def broken(ctx: Context, payload: None) -> None:
        raise NameError("name 'x' is not defined")

    caplog.set_level(logging.DEBUG, logger="tidings.runs")
    async with TestEngine(app, start=START) as t:
        a = await t.trigger("flaky")
        b = await t.trigger("broken")
        await t.advance(timedelta(seconds=2))
    lines = [r.getMessage() for r in caplog.records if r.name == "tidings.runs"]
    assert (
        f"run {a.id} (flaky) attempt 1 failed (ConnectionError: timed out); retrying in 1.0s"
        in (lines)
    )
    assert f"run {a.id} (flaky) completed (attempt 2)" in lines
    assert any(line.startswith(f"run {b.id} (broken) failed on attempt 1: ") for line in lines)
    levels = {r.getMessage(): r.levelno for r in caplog.records if r.name == "tidings.runs"}
    assert levels[f"run {a.id} (flaky) completed (attempt 2)"] == logging.INFO
