"""Bulk cancel and replay by filter, and replay from a step (issue 18, items 2 and 3)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import START
from tidings import Context, Retry, RunStatus, Tidings
from tidings.errors import UnknownBulkActionError, UnknownTaskError, ValidationError
from tidings.testing import TestEngine

from .test_worker import running


def _wait(predicate: Any, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# -- bulk cancel -----------------------------------------------------------------------
async def test_cancel_many_cancels_every_match_and_nothing_else(app: Tidings) -> None:
    @app.task
    async def job(ctx: Context, payload: int) -> int:
        return payload

    @app.task
    async def other(ctx: Context, payload: int) -> int:
        return payload

    async with TestEngine(app, start=START) as t:
        later = timedelta(hours=1)
        tagged = [(await t.trigger("job", i, delay=later, tags=["a", "b"])).id for i in range(7)]
        only_a = [(await t.trigger("job", i, delay=later, tags=["a"])).id for i in range(3)]
        others = [(await t.trigger("other", i, delay=later, tags=["a", "b"])).id for i in range(2)]
        action = app.runs.cancel_many(task="job", tags=["a", "b"], page_size=3)
        assert (action.kind, action.total, action.done, action.status) == (
            "cancel",
            7,
            0,
            "running",
        )
        assert action.filter["statuses"] == ["QUEUED", "RUNNING", "WAITING"]
        await t.run_due()  # the bulk run: three pages of 3, 3 and 1
        after = app.runs.bulk_action(action.id)
        assert (after.total, after.done, after.changed, after.status) == (7, 7, 7, "completed")
        assert after.progress == 1.0
        bulk_run = await t.get_run(after.run_id or "")
        assert [s.name for s in bulk_run.steps] == ["page", "page:2", "page:3"]
        for run_id in tagged:
            assert (await t.get_run(run_id)).status is RunStatus.CANCELLED
        for run_id in only_a + others:
            assert (await t.get_run(run_id)).status is RunStatus.QUEUED


async def test_cancel_many_leaves_finished_runs_and_counts_only_what_it_cancelled(
    app: Tidings,
) -> None:
    @app.task
    async def job(ctx: Context, payload: int) -> int:
        return payload

    async with TestEngine(app, start=START) as t:
        done = (await t.trigger("job", 1)).id
        await t.run_due()
        queued = [(await t.trigger("job", i, delay=60)).id for i in range(4)]
        app.cancel(queued[0])  # already cancelled: not matched (no longer active)
        action = app.runs.cancel_many(task="job")
        assert action.total == 3
        await t.run_due()
        after = app.runs.bulk_action(action.id)
        assert (after.total, after.done, after.changed) == (3, 3, 3)
        assert (await t.get_run(done)).status is RunStatus.COMPLETED


def test_cancel_many_interrupts_a_running_attempt(app: Tidings) -> None:
    entered = []

    async def forever() -> None:
        entered.append(1)
        await asyncio.sleep(60)

    @app.task
    async def stuck(ctx: Context, payload: None) -> None:
        await ctx.step("forever", forever)

    with running(app, poll_interval=0.05):
        run_id = app.trigger("stuck").id
        _wait(lambda: entered)
        action = app.runs.cancel_many(task="stuck", status="RUNNING")
        assert action.total == 1
        _wait(lambda: app.runs.bulk_action(action.id).status == "completed")
        _wait(lambda: app.get_run(run_id).status is RunStatus.CANCELLED)
    assert app.runs.bulk_action(action.id).changed == 1


def test_a_filter_matching_nothing_is_a_clear_zero(app: Tidings) -> None:
    @app.task
    async def job(ctx: Context, payload: None) -> None:
        return None

    for action in (app.runs.cancel_many(task="job"), app.runs.replay_many(status="FAILED")):
        assert (action.total, action.done, action.changed) == (0, 0, 0)
        assert action.status == "completed"
        assert action.finished_at is not None
        assert action.run_id is None
        assert app.runs.bulk_action(action.id) == action
    assert app.list_runs() == []  # no bulk run was started for nothing


def test_bad_filters_are_clear_errors_and_record_nothing(app: Tidings) -> None:
    @app.task
    async def job(ctx: Context, payload: None) -> None:
        return None

    with pytest.raises(UnknownTaskError, match=r"unknown task 'jbo'.*did you mean 'job'"):
        app.runs.cancel_many(task="jbo")
    with pytest.raises(ValidationError, match="unknown run status 'done'; use one of QUEUED"):
        app.runs.replay_many(status="done")
    with pytest.raises(ValidationError, match="only queued, running or waiting runs can be"):
        app.runs.cancel_many(status="COMPLETED")
    with pytest.raises(ValidationError, match=r"created_after .* must be before created_before"):
        app.runs.replay_many(
            created_after=datetime(2026, 2, 1, tzinfo=UTC),
            created_before=datetime(2026, 1, 1, tzinfo=UTC),
        )
    with pytest.raises(ValidationError, match="created_before must be a timezone-aware"):
        app.runs.replay_many(created_before=datetime(2026, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValidationError, match="page_size must be 1 to 1000"):
        app.runs.cancel_many(page_size=0)
    with pytest.raises(ValidationError, match="tags must be non-empty strings"):
        app.runs.cancel_many(tags=[""])
    with pytest.raises(UnknownBulkActionError, match="no bulk action with id 'blk_nope'"):
        app.runs.bulk_action("blk_nope")
    assert app.runs.bulk_actions() == []
    assert app.list_runs() == []


async def test_created_range_and_the_time_the_action_was_made_bound_the_match(
    app: Tidings,
) -> None:
    @app.task
    async def job(ctx: Context, payload: int) -> int:
        return payload

    async with TestEngine(app, start=START) as t:
        early = (await t.trigger("job", 0, delay=3600)).id
        await t.advance(timedelta(minutes=10))
        middle = (await t.trigger("job", 1, delay=3600)).id
        await t.advance(timedelta(minutes=10))
        late = (await t.trigger("job", 2, delay=3600)).id
        action = app.runs.cancel_many(
            created_after=START + timedelta(minutes=5), created_before=START + timedelta(minutes=15)
        )
        newer = (await t.trigger("job", 3, delay=3600)).id  # made after the action
        await t.run_due()
        assert app.runs.bulk_action(action.id).changed == 1
        statuses = {r: (await t.get_run(r)).status for r in (early, middle, late, newer)}
    assert statuses == {
        early: RunStatus.QUEUED,
        middle: RunStatus.CANCELLED,
        late: RunStatus.QUEUED,
        newer: RunStatus.QUEUED,
    }


# -- bulk replay -----------------------------------------------------------------------
async def test_replay_many_replays_each_failed_run_once(app: Tidings) -> None:
    fixed = False

    @app.task(retry=Retry(max_attempts=1))
    async def flaky(ctx: Context, payload: int) -> int:
        if not fixed:
            raise RuntimeError("broken")
        return payload * 10

    async with TestEngine(app, start=START) as t:
        sources = [(await t.trigger("flaky", i, tags=["x"], priority=3)).id for i in range(5)]
        await t.run_due()
        assert {(await t.get_run(r)).status for r in sources} == {RunStatus.FAILED}
        fixed = True
        action = app.runs.replay_many(task="flaky", status="FAILED", page_size=2)
        assert action.total == 5
        await t.run_due()
        after = app.runs.bulk_action(action.id)
        assert (after.done, after.changed, after.status) == (5, 5, "completed")
        runs = await t.list_runs(task_id="flaky", limit=50)
        replays = [r for r in runs if r.replay_of is not None]
        assert sorted(r.replay_of or "" for r in replays) == sorted(sources)
        assert {r.status for r in replays} == {RunStatus.COMPLETED}
        assert sorted(r.result for r in replays) == [0, 10, 20, 30, 40]
        assert {(r.priority, r.tags) for r in replays} == {(3, ("x",))}
        for r in sources:  # the sources are untouched
            assert (await t.get_run(r)).status is RunStatus.FAILED
        # a second replay of the same filter finds the same five (the replays completed)
        again = app.runs.replay_many(task="flaky", status="FAILED")
        assert again.total == 5


async def test_replay_many_with_no_status_does_not_replay_its_own_replays(app: Tidings) -> None:
    @app.task
    async def job(ctx: Context, payload: int) -> int:
        return payload

    async with TestEngine(app, start=START) as t:
        for i in range(4):
            await t.trigger("job", i)
        await t.run_due()
        action = app.runs.replay_many(task="job", page_size=1)
        await t.run_due()
        after = app.runs.bulk_action(action.id)
        assert (after.total, after.done, after.changed) == (4, 4, 4)
        assert len(await t.list_runs(task_id="job", limit=50)) == 8


# -- replay from a step ----------------------------------------------------------------
def _profile_app(app: Tidings, calls: list[str], broken: dict[str, bool]) -> None:
    @app.task(retry=Retry(max_attempts=1))
    async def onboard(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
        def load() -> dict[str, Any]:
            calls.append("load")
            return {"user": payload["user"], "plan": "pro"}

        def check(user: dict[str, Any]) -> str:
            calls.append("check-profile")
            if broken["check"]:
                raise RuntimeError("profile service down")
            return f"{user['user']} ok"

        def welcome(verdict: str) -> str:
            calls.append("welcome")
            return f"welcome {payload['user']} ({verdict})"

        user = await ctx.step("load", load)
        await ctx.sleep(timedelta(minutes=5))
        verdict = await ctx.step("check-profile", check, user)
        message = await ctx.step("welcome", welcome, verdict)
        return {"user": user, "verdict": verdict, "message": message}


async def test_replay_from_a_step_equals_a_run_that_never_failed(app: Tidings) -> None:
    calls: list[str] = []
    broken = {"check": True}
    _profile_app(app, calls, broken)
    async with TestEngine(app, start=START) as t:
        failed = await t.trigger("onboard", {"user": "u1"})
        await t.advance(timedelta(minutes=10))
        source = await t.get_run(failed.id)
        assert source.status is RunStatus.FAILED
        assert calls == ["load", "check-profile"]

        broken["check"] = False  # the fix is deployed
        calls.clear()
        handle = app.replay(failed.id, from_step="check-profile")
        await t.advance(timedelta(minutes=1))
        replayed = await t.get_run(handle.id)
        assert calls == ["check-profile", "welcome"], "load and the sleep must not run again"

        calls.clear()
        clean = await t.trigger("onboard", {"user": "u1"})
        await t.advance(timedelta(minutes=10))
        clean_run = await t.get_run(clean.id)
        assert calls == ["load", "check-profile", "welcome"]

        assert replayed.status is RunStatus.COMPLETED
        assert replayed.result == clean_run.result
        assert replayed.replay_of == failed.id
        assert [s.name for s in replayed.steps] == ["load", "sleep", "check-profile", "welcome"]
        copied = {s.name: s for s in replayed.steps}
        original = {s.name: s for s in source.steps}
        assert copied["load"] == original["load"]
        assert copied["sleep"] == original["sleep"]
        # the source run is untouched
        assert await t.get_run(failed.id) == source


async def test_replay_from_a_step_takes_a_new_payload(app: Tidings) -> None:
    calls: list[str] = []
    _profile_app(app, calls, {"check": False})
    async with TestEngine(app, start=START) as t:
        first = await t.trigger("onboard", {"user": "u1"})
        await t.advance(timedelta(minutes=10))
        handle = app.replay(first.id, from_step="welcome", payload={"user": "u2"})
        await t.advance(timedelta(minutes=1))
        run = await t.get_run(handle.id)
    assert run.payload == {"user": "u2"}
    # load and check-profile are the source's; welcome ran with the new payload
    assert run.result == {
        "user": {"user": "u1", "plan": "pro"},
        "verdict": "u1 ok",
        "message": "welcome u2 (u1 ok)",
    }


async def test_replay_from_an_unknown_or_unreached_step_lists_the_steps(app: Tidings) -> None:
    calls: list[str] = []
    _profile_app(app, calls, {"check": True})
    async with TestEngine(app, start=START) as t:
        failed = await t.trigger("onboard", {"user": "u1"})
        await t.advance(timedelta(minutes=10))
        before = await t.list_runs(limit=50)
        steps = "'load', 'sleep', 'check-profile'"
        with pytest.raises(ValidationError, match=f"has no step 'chek'.*first ran: {steps}$"):
            app.replay(failed.id, from_step="chek")
        with pytest.raises(ValidationError, match=f"has no step 'welcome'.*never reached.*{steps}"):
            app.replay(failed.id, from_step="welcome")  # in the code, never reached
        assert await t.list_runs(limit=50) == before


def test_replay_without_a_step_is_unchanged(app: Tidings) -> None:
    @app.task
    async def job(ctx: Context, payload: int) -> int:
        return payload

    source = app.trigger("job", 4, tags=["t"])
    again = app.replay(source.id)
    run = app.get_run(again.id)
    assert (run.payload, run.tags, run.replay_of, run.steps) == (4, ("t",), source.id, [])
    other = app.get_run(app.replay(source.id, payload=9).id)
    assert other.payload == 9


async def test_tags_match_whole_tags_only(app: Tidings) -> None:
    @app.task
    async def job(ctx: Context, payload: int) -> int:
        return payload

    async with TestEngine(app, start=START) as t:
        exact = (await t.trigger("job", 0, delay=60, tags=["a", 'q"a"'])).id
        await t.trigger("job", 1, delay=60, tags=['x"a"', "ab", "[a]"])
        await t.trigger("job", 2, delay=60, tags=["A"])
        assert app.runs.count(tags=["a"]) == 1
        assert app.runs.count(tags=['q"a"', "a"]) == 1
        assert app.runs.count(tags=["a\x00"]) == 0  # no run can hold it: a zero, no error
        action = app.runs.cancel_many(tags="a")
        await t.run_due()
        assert app.runs.bulk_action(action.id).changed == 1
        assert (await t.get_run(exact)).status is RunStatus.CANCELLED


async def test_a_child_cancelled_in_bulk_fails_its_parents_wait(app: Tidings) -> None:
    @app.task
    async def child(ctx: Context, payload: int) -> int:
        await ctx.sleep(timedelta(hours=10))
        return payload

    @app.task
    async def parent(ctx: Context, payload: int) -> Any:
        return await ctx.trigger_and_wait("child", payload)

    async with TestEngine(app, start=START) as t:
        parents = [(await t.trigger("parent", i)).id for i in range(3)]
        await t.advance(timedelta(minutes=1))
        action = app.runs.cancel_many(task="child", status="WAITING")
        assert action.total == 3
        await t.advance(timedelta(minutes=1))
        assert app.runs.bulk_action(action.id).changed == 3
        for run_id in parents:
            run = await t.get_run(run_id)
            assert run.status is RunStatus.FAILED
            assert run.error is not None
            assert "cancelled" in run.error.message


async def test_tidings_own_runs_match_only_a_filter_that_names_their_task(app: Tidings) -> None:
    # "cancel everything queued" means the app's runs: a pending delivery, prune or
    # snooze of tidings' own is left alone unless the filter names its task
    @app.task
    async def job(ctx: Context, payload: int) -> int:
        return payload

    async with TestEngine(app, start=START) as t:
        later = timedelta(hours=1)
        mine = (await t.trigger("job", 1, delay=later)).id
        own = (await t.trigger("tidings.inbox.unsnooze", {}, delay=later)).id
        everything = app.runs.cancel_many(status="QUEUED")
        assert everything.total == 1
        await t.run_due()
        assert (await t.get_run(mine)).status is RunStatus.CANCELLED
        assert (await t.get_run(own)).status is RunStatus.QUEUED
        named = app.runs.cancel_many(task="tidings.inbox.unsnooze")
        assert named.total == 1
        await t.run_due()
        assert (await t.get_run(own)).status is RunStatus.CANCELLED
