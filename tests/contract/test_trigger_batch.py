"""trigger_batch (runs of several tasks, each with its options, all or none) and
reschedule (a delayed run that has not started moves), on every store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import START
from tidings import Context, RunStatus, Tidings, TriggerRequest
from tidings.errors import UnknownRunError, UnknownTaskError, ValidationError
from tidings.testing import TestEngine


def register(app: Tidings) -> None:
    @app.task
    async def echo(ctx: Context, payload: Any) -> Any:
        return payload

    @app.task(concurrency=2)
    async def limited(ctx: Context, payload: Any) -> Any:
        return payload


async def test_runs_of_several_tasks_start_with_their_own_options(app: Tidings) -> None:
    register(app)
    async with TestEngine(app, start=START) as t:
        handles = await app.trigger_batch_async(
            [
                TriggerRequest("echo", {"i": 0}, tags=("a",), priority=3),
                TriggerRequest("limited", {"i": 1}, concurrency_key="u1", idempotency_key="k1"),
                TriggerRequest("echo", {"i": 2}, delay=timedelta(hours=1)),
                TriggerRequest("limited", {"i": 9}, idempotency_key="k1"),  # repeated key
            ]
        )
        assert [h.created for h in handles] == [True, True, True, False]
        assert handles[3].id == handles[1].id
        await t.advance(timedelta(0))
        first, second, later = [await t.get_run(h.id) for h in handles[:3]]
        assert (first.status, first.tags, first.priority) == (RunStatus.COMPLETED, ("a",), 3)
        assert (second.task_id, second.result) == ("limited", {"i": 1})
        assert later.status is RunStatus.QUEUED
        await t.advance(timedelta(hours=1))
        assert (await t.get_run(handles[2].id)).status is RunStatus.COMPLETED


def test_one_bad_request_names_its_index_and_starts_nothing(app: Tidings) -> None:
    register(app)
    good = TriggerRequest("echo", {"ok": True})
    with pytest.raises(UnknownTaskError, match=r"items\[1\]: .*'nope'"):
        app.trigger_batch([good, TriggerRequest("nope")])
    with pytest.raises(ValidationError, match=r"items\[2\]: .*concurrency_key"):
        app.trigger_batch([good, good, TriggerRequest("echo", concurrency_key="x")])
    assert app.list_runs() == []
    assert app.trigger_batch([]) == []


async def test_reschedule_moves_only_a_delayed_run_that_has_not_started(app: Tidings) -> None:
    register(app)
    async with TestEngine(app, start=START) as t:
        late = app.trigger("echo", {"late": True}, delay=timedelta(days=1))
        moved = app.reschedule(late.id, START + timedelta(minutes=5))
        assert moved.run_at == START + timedelta(minutes=5)
        await t.advance(timedelta(minutes=5))
        assert (await t.get_run(late.id)).status is RunStatus.COMPLETED
        with pytest.raises(ValidationError, match="COMPLETED, not a delayed run"):
            app.reschedule(late.id, START + timedelta(days=2))
        now = app.trigger("echo", {})
        with pytest.raises(ValidationError, match="cannot be rescheduled"):
            await app.reschedule_async(now.id, START + timedelta(days=2))
        with pytest.raises(ValidationError, match="timezone-aware"):
            app.reschedule(late.id, START.replace(tzinfo=None))
    with pytest.raises(UnknownRunError):
        app.reschedule("run_nope", START + timedelta(days=2))
