"""A welcome sequence for new sign-ups, showing what a durable task is made of.

- steps (``ctx.step``) run once per run and are remembered, so a retried or resumed run
  never sends the same email twice;
- ``ctx.sleep`` waits durably: the run becomes a row with a wake time, no worker waits;
- a flaky call fails once and is retried with exponential backoff and jitter;
- ``NonRetriableError`` fails a run at once, without retries.

Run it with a worker and trigger runs from another shell::

    export TIDINGS_APP=examples.quickstart.app:app
    tidings worker
    tidings trigger welcome-sequence --wait \\
        '{"user_id": "u1", "name": "Ada", "email": "ada@example.com"}'
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from tidings import Context, NonRetriableError, Retry, Tidings

app = Tidings()

# Real sequences wait days; the example waits seconds so you can watch it happen.
FOLLOW_UP_AFTER = timedelta(seconds=3)
TIPS_AFTER = timedelta(seconds=2)


class SignUp(BaseModel):
    """The payload of ``welcome-sequence``: checked when the run is triggered."""

    user_id: str
    name: str
    email: str


def send_email(to: str, subject: str, body: str) -> dict[str, Any]:
    """Stand-in for an email provider call; its return value is stored with the step."""
    return {"to": to, "subject": subject, "chars": len(body)}


class CrmTimeout(ConnectionError):
    """The CRM did not answer in time (a transient failure worth retrying)."""


def sync_to_crm(user_id: str, attempt: int) -> dict[str, Any]:
    """A flaky third-party call: it times out on the run's first attempt."""
    if attempt == 1:
        raise CrmTimeout(f"CRM did not answer for {user_id} within 2s")
    return {"crm_id": f"crm-{user_id}", "synced_on_attempt": attempt}


@app.task(retry=Retry(max_attempts=4, initial=timedelta(seconds=0.5), jitter=True))
async def welcome_sequence(ctx: Context, user: SignUp) -> dict[str, Any]:
    """Welcome email now, a CRM sync, a follow-up a little later, then tips."""
    welcome = await ctx.step(
        "send-welcome", send_email, user.email, f"Welcome, {user.name}!", "Glad you're here."
    )
    ctx.logger.info("welcome email sent to %s", welcome["to"])

    await ctx.sleep(FOLLOW_UP_AFTER)  # the run holds no worker while it waits

    # Fails on the first attempt; the retry replays the task from the top, and the
    # completed steps above return their stored results instead of running again.
    crm = await ctx.step("sync-crm", sync_to_crm, user.user_id, ctx.attempt)
    ctx.logger.info("synced %s to the CRM as %s", user.user_id, crm["crm_id"])

    await ctx.step("send-follow-up", send_email, user.email, "How is it going?", "Any questions?")
    await ctx.sleep(TIPS_AFTER, name="before-tips")
    await ctx.step("send-tips", send_email, user.email, "Three tips", "1. 2. 3.")
    return {"user_id": user.user_id, "emails_sent": 3, "crm_id": crm["crm_id"]}


def check_mail_domain(email: str) -> str:
    """Pretend DNS lookup: ``.invalid`` domains have no mail server, which no retry fixes."""
    domain = email.rpartition("@")[2]
    if not domain or domain.endswith(".invalid"):
        raise NonRetriableError(f"{email} has no mail server; not retrying")
    return domain


@app.task
async def verify_email(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    """Check an address before the first send; a bad domain fails the run for good."""
    domain = await ctx.step("check-domain", check_mail_domain, payload["email"])
    ctx.logger.info("%s accepts mail", domain)
    return {"email": payload["email"], "domain": domain}
