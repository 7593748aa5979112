"""A small app the CLI end-to-end tests load with ``--app cliapp:app``."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from tidings import Context, NonRetriableError, Retry, Tidings

app = Tidings()


@app.task
async def greet(ctx: Context, payload: dict[str, Any]) -> dict[str, str]:
    """Two steps and a log line: the happy path."""
    name = await ctx.step("build-greeting", lambda: f"hello {payload['name']}")
    ctx.logger.info("greeting %s", payload["name"])
    await ctx.step("deliver", lambda: {"sent": True})
    return {"greeting": name}


@app.task(retry=Retry(max_attempts=1))
async def doomed(ctx: Context, payload: Any) -> None:
    """Fails at once, without retries."""
    await ctx.step("try", _refuse)


def _refuse() -> None:
    raise NonRetriableError("card declined")


@app.task
async def slow(ctx: Context, payload: Any) -> str:
    """A step long enough to SIGTERM the worker in the middle of it."""
    await ctx.step("work", asyncio.sleep, 1.5)
    return "finished"


@app.task
async def napper(ctx: Context) -> str:
    """Sleeps durably for a short while."""
    await ctx.sleep(timedelta(seconds=0.5))
    return "rested"


@app.task(on_event="user.registered")
async def welcome(ctx: Context, payload: dict[str, Any]) -> str:
    """Started by the ``user.registered`` event."""
    return f"welcome {payload['userId']}"


not_an_app = object()


@app.task
async def approval(ctx: Context, payload: Any) -> Any:
    """Waits on a wait token (issue 16) until `tidings tokens complete` completes it."""
    token = await ctx.create_token(timeout=timedelta(hours=1), name="approval")
    result = await ctx.wait_for_token(token)
    return None if result is None else result.data
