"""Triggering: payload validation, idempotency keys, replay, listing, bad input."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pydantic
import pytest

from tests.conftest import START
from tidings import Context, RunStatus, Tidings
from tidings.errors import (
    DuplicateTaskError,
    NotSerializableError,
    UnknownRunError,
    UnknownTaskError,
    ValidationError,
)
from tidings.testing import TestEngine


class Signup(pydantic.BaseModel):
    user_id: str
    age: int


def register(app: Tidings) -> list[Any]:
    seen: list[Any] = []

    @app.task
    async def welcome(ctx: Context, payload: Signup) -> str:
        seen.append(payload)
        return payload.user_id

    @app.task
    async def plain(ctx: Context, payload: dict[str, Any]) -> Any:
        return payload

    return seen


async def test_pydantic_payload_is_validated_and_passed_as_the_model(app: Tidings) -> None:
    seen = register(app)
    async with TestEngine(app, start=START) as t:
        h = await t.trigger("welcome", {"user_id": "u1", "age": "42"})
        run = await t.get_run(h.id)
    assert run.payload == {"user_id": "u1", "age": 42}
    assert seen == [Signup(user_id="u1", age=42)]
    assert run.result == "u1"


def test_bad_payload_names_the_field_and_creates_nothing(app: Tidings) -> None:
    register(app)
    with pytest.raises(ValidationError, match=r"task 'welcome'.*age: .*integer"):
        app.trigger("welcome", {"user_id": "u1", "age": "old"})
    assert app.list_runs() == []


def test_payload_that_is_not_json_is_rejected(app: Tidings) -> None:
    register(app)
    with pytest.raises(NotSerializableError, match=r"payload of task 'plain'.*datetime"):
        app.trigger("plain", {"when": START})
    assert app.list_runs() == []


def test_unknown_task_suggests_a_name_and_creates_nothing(app: Tidings) -> None:
    register(app)
    with pytest.raises(UnknownTaskError, match="did you mean 'welcome'"):
        app.trigger("welcom", {})
    assert app.list_runs() == []


def test_two_tasks_with_one_id_are_rejected(app: Tidings) -> None:
    @app.task(id="send")
    async def one(ctx: Context, payload: None) -> None: ...

    with pytest.raises(DuplicateTaskError, match="'send' is already used"):

        @app.task(id="send")
        async def two(ctx: Context, payload: None) -> None: ...

    assert app.tasks["send"].fn is one


def test_task_functions_must_be_async(app: Tidings) -> None:
    with pytest.raises(ValidationError, match="must be an 'async def'"):

        @app.task  # type: ignore[type-var]
        def sync_task(ctx: Context, payload: None) -> None: ...


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"delay": -5}, "delay must not be negative"),
        ({"delay": 1, "run_at": START}, "either delay or run_at"),
        ({"run_at": datetime(2026, 1, 1)}, "timezone-aware"),  # noqa: DTZ001
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"priority": "high"}, "priority must be an int"),
        ({"tags": "urgent"}, "tags must be a list"),
    ],
)
def test_bad_trigger_options(app: Tidings, options: dict[str, Any], message: str) -> None:
    register(app)
    with pytest.raises(ValidationError, match=message):
        app.trigger("plain", {}, **options)
    assert app.list_runs() == []


async def test_idempotency_key_returns_the_existing_run_within_the_ttl(app: Tidings) -> None:
    register(app)
    async with TestEngine(app, start=START) as t:
        first = await t.trigger("plain", {"n": 1}, idempotency_key="sequence-run-a-u1")
        again = await t.trigger("plain", {"n": 2}, idempotency_key="sequence-run-a-u1")
        other_task = await t.trigger(
            "welcome", {"user_id": "u", "age": 1}, idempotency_key="sequence-run-a-u1"
        )
        assert again.id == first.id
        assert (first.created, again.created) == (True, False)
        assert other_task.id != first.id
        await t.advance(timedelta(hours=24))
        later = await t.trigger("plain", {"n": 3}, idempotency_key="sequence-run-a-u1")
    assert later.id != first.id
    assert app.get_run(first.id).payload == {"n": 1}
    assert app.get_run(first.id).idempotency_key == "sequence-run-a-u1"


def test_idempotency_holds_under_concurrent_triggers(make_app: Any) -> None:
    apps = [make_app() for _ in range(4)]  # separate connections, as separate processes
    for a in apps:
        register(a)
    ids: list[str] = []
    barrier = threading.Barrier(16)

    def fire(i: int) -> None:
        barrier.wait()
        ids.append(apps[i % 4].trigger("plain", {"i": i}, idempotency_key="once").id)

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(ids) == 16
    assert len(set(ids)) == 1
    assert len(apps[0].list_runs()) == 1


async def test_replay_is_a_new_run_of_the_same_task_and_payload(app: Tidings) -> None:
    calls: list[int] = []

    def count(n: int) -> int:
        calls.append(n)
        return len(calls)

    @app.task
    async def job(ctx: Context, payload: dict[str, int]) -> int:
        return int(await ctx.step("count", count, payload["n"]))

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("job", {"n": 7})
        replayed = app.replay(h.id)
        await t.advance(timedelta(0))
        run = await t.get_run(replayed.id)
    assert replayed.id != h.id
    assert run.replay_of == h.id
    assert run.payload == {"n": 7}
    assert run.result == 2
    assert calls == [7, 7]
    with pytest.raises(UnknownRunError):
        app.replay("run_missing")


async def test_list_runs_filters_by_task_and_status(app: Tidings) -> None:
    register(app)
    async with TestEngine(app, start=START) as t:
        await t.trigger("plain", {"a": 1})
        await t.trigger("plain", {"a": 2}, delay=60)
        await t.trigger("welcome", {"user_id": "u", "age": 3})
    assert len(app.list_runs()) == 3
    assert [r.payload for r in app.list_runs(task_id="plain")] == [{"a": 2}, {"a": 1}]
    assert [r.status for r in app.list_runs(status="queued")] == [RunStatus.QUEUED]
    assert len(app.list_runs(limit=1)) == 1
    with pytest.raises(ValidationError, match="unknown run status 'lost'"):
        app.list_runs(status="lost")


def test_trigger_accepts_the_task_function(app: Tidings) -> None:
    @app.task(id="by-ref")
    async def job(ctx: Context, payload: None) -> None: ...

    handle = app.trigger(job)
    assert app.get_run(handle.id).task_id == "by-ref"
