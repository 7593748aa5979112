"""A run that waits for the same event in a loop: each event resumes one wait, once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.conftest import START
from tidings import Context, RunStatus, Tidings
from tidings.testing import TestEngine


async def test_an_event_does_not_resume_the_next_wait_of_the_same_run(app: Tidings) -> None:
    @app.task
    async def follow(ctx: Context, payload: dict[str, Any]) -> list[Any]:
        seen: list[Any] = []
        while len(seen) < 3:
            ev = await ctx.wait_for_event(
                "moved", match={"id": payload["id"]}, timeout=timedelta(days=1), name="moved"
            )
            if ev is None:
                break
            seen.append(ev.data["to"])
        return seen

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("follow", {"id": "a"})
        await t.send_event("moved", {"id": "a", "to": 1})
        # the clock has not moved: the loop's second wait begins at the event's instant
        run = await t.get_run(h.id)
        assert run.status is RunStatus.WAITING
        assert [s.name for s in run.steps if s.status == "completed"] == ["moved"]
        await t.advance(timedelta(hours=1))
        await t.send_event("moved", {"id": "a", "to": 2})
        await t.send_event("moved", {"id": "a", "to": 3})
        run = await t.get_run(h.id)
        assert run.status is RunStatus.COMPLETED
        assert run.result == [1, 2, 3]


async def test_an_event_sent_while_the_run_works_still_reaches_its_next_wait(
    app: Tidings,
) -> None:
    calls: list[str] = []

    @app.task
    async def relay(ctx: Context, payload: dict[str, Any]) -> list[Any]:
        first = await ctx.wait_for_event("ping", match={"k": 1}, timeout=60, name="first")

        def busy() -> None:  # an event arrives while this step runs
            if not calls:
                calls.append("sent")
                app.send_event("ping", {"k": 1, "n": 2})

        await ctx.step("busy", busy)
        second = await ctx.wait_for_event("ping", match={"k": 1}, timeout=60, name="second")
        return [e.data["n"] if e else None for e in (first, second)]

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("relay", {})
        await t.send_event("ping", {"k": 1, "n": 1})
        run = await t.get_run(h.id)
        assert run.status is RunStatus.COMPLETED
        assert run.result == [1, 2]
