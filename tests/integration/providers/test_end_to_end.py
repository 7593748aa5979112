"""Notifications through the real providers, each against its loopback server, on both stores.

``app.notify`` → routing → the durable ``tidings.deliver`` run → provider → fake service:
the same path production takes, with only the service's host replaced.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import START
from tests.contract.notify_support import notify_app
from tests.fakes.fake_expo import FakeExpo
from tests.fakes.fake_resend import FakeResend
from tests.fakes.fake_twilio import FakeTwilio
from tests.fakes.server import Request, Response, refused_url
from tidings import Tidings
from tidings.providers import Expo, Provider, Resend, Smtp, Twilio
from tidings.records.notify import Channel
from tidings.testing import TestEngine

from .smtp_server import Relay, relay

TOKEN = "ExponentPushToken[device-1]"
SID = "AC" + "0" * 32


@pytest.fixture
def fakes() -> Iterator[tuple[FakeResend, FakeExpo, FakeTwilio]]:
    with (
        FakeResend(api_key="re_e2e_key").running() as resend,
        FakeExpo().running() as expo,
        FakeTwilio(account_sid=SID).running() as twilio,
    ):
        assert isinstance(resend, FakeResend)
        assert isinstance(expo, FakeExpo)
        assert isinstance(twilio, FakeTwilio)
        yield resend, expo, twilio


def providers(resend: FakeResend, expo: FakeExpo, twilio: FakeTwilio) -> dict[str, list[Provider]]:
    return {
        "email": [Resend(api_key="re_e2e_key", sender="MediLink <noreply@medilink.vn>",
                         base_url=resend.url, timeout=2)],
        "push": [Expo(base_url=expo.url, timeout=2)],
        "sms": [Twilio(account_sid=SID, auth_token="twilio_test_token", from_="+15005550006",
                       base_url=twilio.url, timeout=2)],
    }  # fmt: skip


def make(make_app: Callable[..., Tidings], tmp_path: Path, **options: object) -> Tidings:
    app = notify_app(make_app, tmp_path, **options)
    app.recipients.upsert("u1", email="u1@example.com", phone="+84901234567")
    app.recipients.add_push_token("u1", TOKEN)
    return app


@asynccontextmanager
async def engine(app: Tidings) -> AsyncIterator[TestEngine]:
    """A TestEngine on the app's real providers, whose connections are closed after."""
    try:
        async with TestEngine(app, start=START, outbox=False) as t:
            yield t
    finally:
        for channel in ("email", "push", "sms"):
            for provider in app.notifications.providers(channel):
                await provider.aclose()


async def test_one_notification_through_every_provider(
    make_app: Callable[..., Tidings],
    tmp_path: Path,
    fakes: tuple[FakeResend, FakeExpo, FakeTwilio],
) -> None:
    resend, expo, twilio = fakes
    app = make(make_app, tmp_path, channels=providers(resend, expo, twilio))
    async with engine(app) as t:
        app.notify("alert", to="u1", data={"name": "An"}, channels=["email", "push", "sms"])
        await t.run_due()
    by_channel = {d.channel: d for d in app.deliveries.list(to="u1")}
    email, push, sms = by_channel[Channel.EMAIL], by_channel[Channel.PUSH], by_channel[Channel.SMS]
    assert {d.status for d in (email, push, sms)} == {"sent"}

    (sent_email,) = resend.sent
    assert (email.provider, email.provider_message_id) == ("resend", sent_email.id)
    assert sent_email.idempotency_key == email.id
    assert sent_email.body["to"] == ["u1@example.com"]
    assert sent_email.body["subject"] == "Results for An"
    assert sent_email.body["html"] == "<p>Dear An, your results are ready.</p>"

    (ticket_id,) = expo.tickets
    assert (push.provider, push.provider_message_id) == ("expo", ticket_id)
    assert expo.tickets[ticket_id]["to"] == TOKEN
    assert expo.tickets[ticket_id]["title"] == "Results ready"

    (sent_sms,) = twilio.sent
    assert (sms.provider, sms.provider_message_id) == ("twilio", sent_sms.sid)
    assert sent_sms.form["Body"] == "Results ready for An."
    assert sent_sms.form["To"] == "+84901234567"


async def test_failover_from_an_unreachable_provider_to_smtp(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    seen = Relay()
    with relay(seen) as port:
        down = Resend(api_key="re_down", sender="noreply@medilink.vn", base_url=refused_url(),
                      max_attempts=2)  # fmt: skip
        smtp = Smtp("127.0.0.1", port, sender="MediLink <noreply@medilink.vn>", timeout=5)
        app = make(make_app, tmp_path, channels={"email": [down, smtp]})
        async with engine(app) as t:
            app.notify("alert", to="u1", data={"name": "An"}, channels=["email"])
            await t.advance(timedelta(minutes=1))
    (d,) = app.deliveries.list(channel="email")
    assert [(h["provider"], h["outcome"], h.get("code")) for h in d.history] == [
        ("resend", "retry", "connect_error"),
        ("resend", "retry", "connect_error"),
        ("smtp", "sent", None),
    ]
    (received,) = seen.received
    assert (d.status, d.provider, d.provider_message_id) == (
        "sent", "smtp", received.message["Message-ID"],
    )  # fmt: skip
    assert received.rcpt_tos == ["u1@example.com"]


async def test_a_lost_answer_is_retried_without_sending_twice(
    make_app: Callable[..., Tidings],
    tmp_path: Path,
    fakes: tuple[FakeResend, FakeExpo, FakeTwilio],
) -> None:
    resend, expo, twilio = fakes
    accept = resend.handle

    def first_answer_lost(request: Request) -> Response:
        answer = accept(request)
        return dataclasses.replace(answer, delay=3.0) if len(resend.requests) == 1 else answer

    resend.handle = first_answer_lost  # type: ignore[method-assign]
    app = make(make_app, tmp_path, channels=providers(resend, expo, twilio))
    async with engine(app) as t:
        app.notify("alert", to="u1", data={"name": "An"}, channels=["email"])
        await t.advance(timedelta(minutes=1))
    (d,) = app.deliveries.list(channel="email")
    assert [(h["outcome"], h.get("code")) for h in d.history] == [
        ("retry", "timeout"),
        ("sent", None),
    ]
    assert len(resend.requests) == 2
    assert [r.headers["idempotency-key"] for r in resend.requests] == [d.id, d.id]
    (sent,) = resend.sent  # Resend replayed the first answer; one email left
    assert d.provider_message_id == sent.id


async def test_twilio_unsubscribed_number_is_suppressed(
    make_app: Callable[..., Tidings],
    tmp_path: Path,
    fakes: tuple[FakeResend, FakeExpo, FakeTwilio],
) -> None:
    resend, expo, twilio = fakes
    twilio.unsubscribed.add("+84901234567")
    app = make(make_app, tmp_path, channels=providers(resend, expo, twilio))
    async with engine(app) as t:
        app.notify("alert", to="u1", data={"name": "An"}, channels=["sms"])
        await t.run_due()
        again = app.notify("alert", to="u1", data={"name": "An"}, channels=["sms"])
        await t.run_due()
    first = [d for d in app.deliveries.list(channel="sms") if d.status == "failed"]
    assert len(first) == 1
    assert "21610" in (first[0].error or "")
    assert app.suppressions.contains("sms", "+84901234567")
    assert again.result().deliveries[0].status == "suppressed"
    assert len(twilio.requests) == 1


async def test_expo_device_not_registered_deactivates_the_token(
    make_app: Callable[..., Tidings],
    tmp_path: Path,
    fakes: tuple[FakeResend, FakeExpo, FakeTwilio],
) -> None:
    resend, expo, twilio = fakes
    expo.unregistered.add(TOKEN)
    app = make(make_app, tmp_path, channels=providers(resend, expo, twilio))
    async with engine(app) as t:
        app.notify("alert", to="u1", data={"name": "An"}, channels=["push"])
        await t.run_due()
    (d,) = app.deliveries.list(channel="push")
    assert d.status == "failed"
    assert app.recipients.push_tokens("u1") == []
