"""Wait tokens: memoized creation, waits resumed at once by a completion, completed once
whatever races, expired tokens complete nothing (issue 16)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import START
from tidings import Context, RunStatus, Tidings, UnknownTokenError, WaitToken
from tidings.errors import MissingTimeoutError, ValidationError
from tidings.testing import TestEngine


async def test_a_completed_token_resumes_its_run_with_the_data(app: Tidings) -> None:
    made: list[WaitToken] = []

    @app.task
    async def approval(ctx: Context, payload: None) -> Any:
        token = await ctx.create_token(timeout=timedelta(days=2), name="approve")
        made.append(token)
        result = await ctx.wait_for_token(token)
        assert result is not None
        return {"data": result.data, "at": result.completed_at.isoformat(), "id": token.id}

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("approval")
        assert (await t.get_run(h.id)).status is RunStatus.WAITING
        await t.advance(timedelta(hours=1))
        assert await app.complete_token_async(made[0].id, {"ok": True}) is True
        assert await app.complete_token_async(made[0].id, {"ok": False}) is False
        await t.run_due()
        run = await t.get_run(h.id)
    assert run.status is RunStatus.COMPLETED
    # the replay after the resume got the same token back
    assert {m.id for m in made} == {run.result["id"]}
    assert run.result["data"] == {"ok": True}
    assert run.result["at"] == (START + timedelta(hours=1)).isoformat()
    assert made[0].expires_at == START + timedelta(days=2)
    assert made[0].url.startswith("/t/")


async def test_a_token_completed_before_the_wait_returns_at_once(app: Tidings) -> None:
    @app.task
    async def early(ctx: Context, payload: None) -> Any:
        token = await ctx.create_token(timeout=timedelta(hours=1))
        await ctx.step("complete it", lambda: app.complete_token(token.id, "done"))
        result = await ctx.wait_for_token(token.id)
        return None if result is None else result.data

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("early")
        run = await t.get_run(h.id)
    assert (run.status, run.result) == (RunStatus.COMPLETED, "done")


async def test_an_expired_token_returns_none_and_completes_nothing(app: Tidings) -> None:
    made: list[WaitToken] = []

    @app.task
    async def lapse(ctx: Context, payload: None) -> bool:
        token = await ctx.create_token(timeout=timedelta(hours=3))
        made.append(token)
        return await ctx.wait_for_token(token) is None

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("lapse")
        await t.advance(timedelta(hours=3))
        run = await t.get_run(h.id)
        assert app.complete_token(made[0].id, 1) is False
    assert (run.status, run.result) == (RunStatus.COMPLETED, True)
    assert run.finished_at == START + timedelta(hours=3)


async def test_concurrent_completions_complete_once(app: Tidings) -> None:
    made: list[WaitToken] = []

    @app.task
    async def race(ctx: Context, payload: None) -> Any:
        token = await ctx.create_token(timeout=timedelta(hours=1))
        made.append(token)
        result = await ctx.wait_for_token(token)
        return None if result is None else result.data

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("race")
        outcomes = await asyncio.gather(
            *(app.complete_token_async(made[0].id, i) for i in range(20))
        )
        await t.run_due()
        run = await t.get_run(h.id)
    assert outcomes.count(True) == 1
    winner = outcomes.index(True)
    assert run.result == winner


async def test_bad_token_calls_are_clear_errors(app: Tidings) -> None:
    @app.task
    async def no_timeout(ctx: Context, payload: None) -> None:
        await ctx.create_token()

    with pytest.raises(UnknownTokenError, match="no wait token"):
        app.complete_token("wtk_nope")
    with pytest.raises(ValidationError, match="non-empty"):
        app.complete_token("")
    async with TestEngine(app, start=START) as t:
        h = await t.trigger("no-timeout")
        run = await t.get_run(h.id)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert "needs a timeout" in run.error.message
    assert MissingTimeoutError.__name__ == run.error.type
