"""The app the SDK tests serve (``--app sdkapp:app``): the note-taking product's tasks
that its backend triggers with the Trigger.dev SDK, and a few to exercise the API."""

from __future__ import annotations

from typing import Any

from tidings import Context, Tidings

app = Tidings()


@app.task
async def email_sequence_runner(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    """One run per user and sequence (idempotency ``sequence-run-<sequence>-<userId>``)."""
    step = await ctx.step("first-email", lambda: f"{payload['sequenceName']}:0")
    return {"userId": payload["userId"], "sent": [step]}


@app.task
async def digest_send_for_user(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    """Sends one digest at once, never twice (idempotency ``note-digest-<digestId>``)."""
    return {"digestId": payload["digestId"], "sent": True}


@app.task(concurrency=20)
async def echo(ctx: Context, payload: Any) -> Any:
    """Returns its payload: the SDK reads it back as the run's output (its concurrency
    limit is what a ``concurrencyKey`` keys)."""
    return payload


@app.task
async def sleeper(ctx: Context, payload: Any) -> str:
    """Sleeps durably for an hour: something to cancel."""
    await ctx.sleep(3600)
    return "woke"


@app.task
async def nightly(ctx: Context, payload: Any) -> None:
    """What ``schedules.create`` attaches to."""


@app.task(on_event="note.synced")
async def on_synced(ctx: Context, payload: Any) -> Any:
    """Started by events the Inngest SDK sends."""
    return payload
