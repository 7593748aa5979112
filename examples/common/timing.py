"""Reading the clock inside a task in a way that replays identically."""

from __future__ import annotations

from datetime import datetime

from tidings import Context


async def checkpoint(ctx: Context, name: str = "now") -> datetime:
    """The engine time when execution first reached this point, the same on every replay.

    A task re-executes from the top after each wait; ``ctx.now()`` then gives the time of
    the new attempt. Code that branches on the time ("is the appointment less than 24 h
    away?") must see the time the decision was first made, so the time is a step.
    """

    def now_iso() -> str:
        return ctx.now().isoformat()

    return datetime.fromisoformat(await ctx.step(name, now_iso))
