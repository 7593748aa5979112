"""Provider webhooks applied to the delivery log, once per event, on both stores."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import START
from tests.contract.notify_support import notify_app
from tidings import Tidings
from tidings.providers.base import Channel, Message, Provider, SendResult
from tidings.providers.tracking import apply_update
from tidings.providers.webhooks import (
    DeliveryUpdate,
    parse_resend_event,
    parse_twilio_status,
)
from tidings.testing import TestEngine


class Named(Provider):
    """Accepts everything, answering ids like the real provider it stands for."""

    channels = frozenset({"email", "sms"})

    def __init__(self, name: str) -> None:
        self.name = name  # type: ignore[misc]
        self.sent = 0

    async def send(self, message: Message) -> SendResult:
        self.sent += 1
        return SendResult(provider_message_id=f"{self.name}-{self.sent}")


async def _sent(make_app: Callable[..., Tidings], tmp_path: Path, channel: Channel) -> Tidings:
    provider = Named("resend" if channel == "email" else "twilio")
    app = notify_app(make_app, tmp_path, channels={channel: [provider]})
    app.recipients.upsert("u1", email="u1@example.com", phone="+84901234567")
    async with TestEngine(app, start=START, outbox=False) as t:
        app.notify("alert", to="u1", data={"name": "An"}, channels=[channel])
        await t.run_due()
    return app


def resend(kind: str, msg: str = "resend-1", **data: object) -> DeliveryUpdate:
    body = {"type": kind, "created_at": "2026-03-01T09:00:00Z",
            "data": {"email_id": msg, "to": ["u1@example.com"], **data}}  # fmt: skip
    update = parse_resend_event(json.dumps(body).encode())
    assert update is not None
    return update


async def test_delivered_then_bounced_suppresses_and_replay_changes_nothing(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = await _sent(make_app, tmp_path, "email")
    delivered = replace(resend("email.delivered"), event_id="msg_1")
    first = await apply_update(app.kernel, delivered)
    again = await apply_update(app.kernel, delivered)
    bounced = resend("email.bounced", bounce={"type": "Permanent", "message": "no mailbox"})
    bounce = await apply_update(app.kernel, replace(bounced, event_id="msg_2"))
    (d,) = app.deliveries.list(channel="email")
    assert (first.outcome, first.status) == ("applied", "delivered")
    assert again.outcome == "replayed"
    assert (bounce.outcome, bounce.status) == ("applied", "bounced")
    assert d.status == "bounced"
    assert d.error == "Permanent bounce: no mailbox"
    assert [h.get("event") for h in d.history if h["outcome"] == "webhook"] == [
        "email.delivered", "email.bounced",
    ]  # fmt: skip
    assert app.suppressions.contains("email", "u1@example.com")


async def test_status_never_moves_back_and_engagement_is_history_only(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = await _sent(make_app, tmp_path, "email")
    complained = await apply_update(app.kernel, resend("email.complained"))
    late = await apply_update(app.kernel, resend("email.delivered"))
    opened = await apply_update(app.kernel, resend("email.opened"))
    (d,) = app.deliveries.list(channel="email")
    assert [complained.outcome, late.outcome, opened.outcome] == [
        "applied", "recorded", "recorded",
    ]  # fmt: skip
    assert d.status == "complained"
    assert app.suppressions.contains("email", "u1@example.com")


async def test_twilio_undelivered_fails_and_stop_suppresses(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = await _sent(make_app, tmp_path, "sms")
    form = {"MessageSid": "twilio-1", "MessageStatus": "failed", "ErrorCode": "21610",
            "To": "+84901234567"}  # fmt: skip
    update = parse_twilio_status(form)
    assert update is not None
    result = await apply_update(app.kernel, update)
    replay = await apply_update(app.kernel, update)  # event id MessageSid:MessageStatus
    (d,) = app.deliveries.list(channel="sms")
    assert (result.outcome, replay.outcome) == ("applied", "replayed")
    assert d.status == "failed"
    assert "21610" in (d.error or "")
    assert app.suppressions.contains("sms", "+84901234567")


async def test_an_unknown_message_is_accepted_and_logged(
    make_app: Callable[..., Tidings], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tidings.providers")
    app = await _sent(make_app, tmp_path, "email")
    result = await apply_update(app.kernel, resend("email.delivered", msg="someone-elses-id"))
    (d,) = app.deliveries.list(channel="email")
    assert result.outcome == "unknown"
    assert d.status == "sent"
    assert "matches no delivery" in caplog.text
