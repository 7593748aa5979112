"""The app bench/server.py serves (``tidings serve``) and works (``tidings worker``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tidings import Context, Tidings

app = Tidings(templates=Path(__file__).resolve().parent / "server_templates")
app.notification_type("ping", channels=("in_app",))


@app.task(on_event="bench.event")
async def on_event(ctx: Context, payload: Any) -> None:
    """Every published event starts one run, as a subscribed task does."""


@app.task(on_event="bench.notify")
async def notify_inbox(ctx: Context, payload: dict[str, Any]) -> None:
    await ctx.notify("ping", to=payload["to"], data={"n": payload["n"]})
