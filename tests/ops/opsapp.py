"""The app the operations tests load with ``--app opsapp:app`` (tests/ops on PYTHONPATH)."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import pydantic

from tidings import Context, Tidings

log = logging.getLogger("opsapp")


class Order(pydantic.BaseModel):
    order_id: str
    amount: int = pydantic.Field(gt=0)


def _record(n: int, name: str) -> dict[str, Any]:
    log.info("step %s of item %d", name, n)  # a plain logging call inside a sync step
    return {"n": n, "step": name}


def _pause(seconds: float, gate: str | None) -> None:
    """Sleep, then (if given) wait for the gate file: a test holds runs back until it opens.

    A sync step (on the worker's thread pool), so the file check blocks no event loop."""
    time.sleep(seconds)
    while gate is not None and not Path(gate).exists():
        time.sleep(0.05)


def make_app(database_url: str | None = None, environment: str = "ops") -> Tidings:
    """A new app with this module's tasks (tests open several databases at once)."""
    app = Tidings(database_url, environment=environment)
    app.notification_type("ping", channels=("in_app",))  # the MCP notify tool's

    @app.task
    async def churn(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
        """Three short steps: a stream of completions to back up mid-load."""
        n = int(payload["n"])
        first = await ctx.step("first", _record, n, "first")
        await ctx.step("pause", _pause, float(payload.get("pause", 0.01)), payload.get("gate"))
        last = await ctx.step("last", _record, n, "last")
        ctx.logger.info("item %d done", n)
        return {"n": n, "first": first, "last": last}

    @app.task(on_event="order.placed")
    async def charge(ctx: Context, payload: Order) -> dict[str, Any]:
        """A payload validated by a pydantic model; started by an event too."""
        receipt = await ctx.step("charge", lambda: {"charged": payload.amount})
        ctx.logger.info("charged order %s", payload.order_id)
        return {"order": payload.order_id, **receipt}

    @app.task
    async def hold(ctx: Context, payload: Any) -> str:
        """Waits an hour: something to cancel."""
        await ctx.sleep(3600)
        return "woke"

    @app.task
    async def approval(ctx: Context, payload: Any) -> Any:
        """Waits on a wait token until it is completed (issue 16)."""
        token = await ctx.create_token(timeout=3600, name="approval")
        result = await ctx.wait_for_token(token)
        return None if result is None else result.data

    @app.task
    async def nothing(ctx: Context) -> None:
        """Takes no payload."""

    return app


app = make_app()


@dataclasses.dataclass(frozen=True)
class Gateway:
    """A provider-shaped object: doctor finds credentials by field name, generically."""

    name: str
    api_key: str
    base_url: str = "http://127.0.0.1:9"
    webhook_secret: str | None = None


def app_with_providers(secret: str, environment: str = "ops") -> Tidings:
    configured = make_app(environment=environment)
    # Until the app takes channels=..., a channel map set on it is what doctor reads.
    setattr(  # noqa: B010
        configured,
        "channels",
        {
            "email": [Gateway("resend", api_key=secret), Gateway("smtp", api_key="")],
            "sms": Gateway("twilio", api_key=secret, webhook_secret=None),
        },
    )
    return configured


creds_app = app_with_providers("sk_live_TOPSECRET42")
