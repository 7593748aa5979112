"""``POST /webhooks/resend`` and ``POST /webhooks/twilio`` over real HTTP, on both stores.

Each delivery is first sent through the provider's loopback fake (so it carries the id the
service returned), then moved by a webhook signed the way Resend (Svix) and Twilio sign
them, posted to the app's API served by uvicorn on loopback.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import START
from tests.contract.notify_support import notify_app
from tests.fakes.fake_resend import FakeResend
from tests.fakes.fake_twilio import FakeTwilio
from tests.server.harness import serving
from tidings import Tidings
from tidings.errors import ConfigError
from tidings.providers import Resend, Twilio
from tidings.providers.webhooks import svix_sign, twilio_signature
from tidings.records.notify import Delivery
from tidings.server import ServerSettings
from tidings.testing import TestEngine

SECRET = "whsec_" + base64.b64encode(b"tidings-webhook-test-secret-0001").decode()
SID = "AC" + "1" * 32
TOKEN = "twilio_webhook_token"
PUBLIC = "https://tidings.example.com"
PHONE = "+84901234567"


@pytest.fixture
def fakes() -> Iterator[tuple[FakeResend, FakeTwilio]]:
    with (
        FakeResend(api_key="re_webhook_key").running() as resend,
        FakeTwilio(account_sid=SID, auth_token=TOKEN).running() as twilio,
    ):
        assert isinstance(resend, FakeResend)
        assert isinstance(twilio, FakeTwilio)
        yield resend, twilio


@pytest.fixture
def app(
    make_app: Callable[..., Tidings], tmp_path: Path, fakes: tuple[FakeResend, FakeTwilio]
) -> Tidings:
    resend, twilio = fakes
    channels = {
        "email": [Resend(api_key="re_webhook_key", sender="MediLink <noreply@medilink.vn>",
                         base_url=resend.url, webhook_secret=SECRET, timeout=5)],
        "sms": [Twilio(account_sid=SID, auth_token=TOKEN, from_="+15005550006",
                       base_url=twilio.url, status_callback=f"{PUBLIC}/webhooks/twilio",
                       timeout=5)],
    }  # fmt: skip
    app = notify_app(make_app, tmp_path, channels=channels)
    app.recipients.upsert("u1", email="u1@example.com", phone=PHONE)
    return app


async def sent(app: Tidings, channel: str) -> Delivery:
    """Send one notification on ``channel`` through the fake; its delivery, ``sent``."""
    async with TestEngine(app, start=START, outbox=False) as t:
        app.notify("alert", to="u1", data={"name": "An"}, channels=[channel])
        await t.run_due()
    await app.notifications.aclose()
    (d,) = app.deliveries.list(channel=channel)
    assert d.status == "sent"
    assert d.provider_message_id
    return d


def resend_body(kind: str, email_id: str, **data: Any) -> bytes:
    event = {"type": kind, "created_at": "2026-03-01T09:00:05.000Z",
             "data": {"email_id": email_id, "to": ["u1@example.com"], **data}}  # fmt: skip
    return json.dumps(event).encode()


def svix(body: bytes, msg_id: str, *, secret: str = SECRET, age: float = 0) -> dict[str, str]:
    stamp = int(time.time() - age)
    return {
        "svix-id": msg_id,
        "svix-timestamp": str(stamp),
        "svix-signature": svix_sign(secret, msg_id, stamp, body),
        "content-type": "application/json",
    }


def post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url, content=body, headers=headers, timeout=30)


def webhook_events(d: Delivery) -> list[str]:
    return [str(h.get("event")) for h in d.history if h.get("outcome") == "webhook"]


async def test_signed_resend_webhooks_move_the_delivery_once(app: Tidings) -> None:
    d = await sent(app, "email")
    delivered = resend_body("email.delivered", str(d.provider_message_id))
    bounced = resend_body(
        "email.bounced", str(d.provider_message_id),
        bounce={"type": "Permanent", "subType": "General", "message": "mailbox does not exist"},
    )  # fmt: skip
    with serving(app) as base:
        first = post(f"{base}/webhooks/resend", delivered, svix(delivered, "msg_delivered"))
        assert app.deliveries.list(channel="email")[0].status == "delivered"
        bounce = post(f"{base}/webhooks/resend", bounced, svix(bounced, "msg_bounced"))
        # Svix retries the same message (same svix-id) with a fresh timestamp and signature
        replay = post(f"{base}/webhooks/resend", bounced, svix(bounced, "msg_bounced", age=30))
    assert (first.status_code, first.json()) == (
        200, {"status": "applied", "delivery_id": d.id, "delivery_status": "delivered"},
    )  # fmt: skip
    assert (bounce.status_code, bounce.json()["status"]) == (200, "applied")
    assert (replay.status_code, replay.json()["status"]) == (200, "replayed")
    (after,) = app.deliveries.list(channel="email")
    assert after.status == "bounced"
    assert after.error == "Permanent/General bounce: mailbox does not exist"
    assert webhook_events(after) == ["email.delivered", "email.bounced"]
    assert app.suppressions.contains("email", "u1@example.com")


async def test_bad_missing_and_expired_signatures_are_rejected_and_change_nothing(
    app: Tidings,
) -> None:
    d = await sent(app, "email")
    body = resend_body("email.complained", str(d.provider_message_id))
    other_secret = "whsec_" + base64.b64encode(b"someone-elses-webhook-secret-002").decode()
    tampered = resend_body("email.complained", "another-email-id")
    bad = {
        "wrong secret": svix(body, "msg_1", secret=other_secret),
        "missing": {"content-type": "application/json"},
        "expired": svix(body, "msg_1", age=6 * 60),
        "tampered": {**svix(tampered, "msg_1")},
    }
    with serving(app) as base:
        answers = {what: post(f"{base}/webhooks/resend", body, h) for what, h in bad.items()}
        unknown_body = resend_body("email.delivered", "no-such-email")
        unknown = post(f"{base}/webhooks/resend", unknown_body, svix(unknown_body, "msg_2"))
        contact_body = json.dumps({"type": "contact.created", "data": {"id": "c1"}}).encode()
        contact = post(f"{base}/webhooks/resend", contact_body, svix(contact_body, "msg_3"))
    for what, answer in answers.items():
        assert answer.status_code == 401, what
        assert answer.json()["error"]["code"] == "unauthorized", what
    assert "too old" in answers["expired"].json()["error"]["message"]
    assert (unknown.status_code, unknown.json()["status"]) == (200, "unknown")
    assert (contact.status_code, contact.json()["status"]) == (200, "ignored")
    (after,) = app.deliveries.list(channel="email")
    assert (after.status, webhook_events(after)) == ("sent", [])
    assert not app.suppressions.contains("email", "u1@example.com")
    # the rejected event id was not consumed: the genuine delivery of it still applies
    with serving(app) as base:
        genuine = post(f"{base}/webhooks/resend", body, svix(body, "msg_1"))
    assert genuine.json()["status"] == "applied"
    assert app.deliveries.list(channel="email")[0].status == "complained"


def twilio_form(d: Delivery, status: str, **extra: str) -> dict[str, str]:
    return {
        "MessageSid": str(d.provider_message_id), "MessageStatus": status, "AccountSid": SID,
        "From": "+15005550006", "To": PHONE, "ApiVersion": "2010-04-01", **extra,
    }  # fmt: skip


def post_form(url: str, form: dict[str, str], signature: str | None) -> httpx.Response:
    headers = {"X-Twilio-Signature": signature} if signature is not None else {}
    return httpx.post(url, data=form, headers=headers, timeout=30)


async def test_twilio_callback_signed_over_the_public_url(app: Tidings) -> None:
    d = await sent(app, "sms")
    form = twilio_form(d, "delivered")
    public = f"{PUBLIC}/webhooks/twilio"
    with serving(app, ServerSettings(public_url=PUBLIC + "/")) as base:
        loopback = f"{base}/webhooks/twilio"
        wrong_token = post_form(loopback, form, twilio_signature("not-the-token", public, form))
        wrong_url = post_form(
            loopback,
            form,
            twilio_signature(TOKEN, "https://elsewhere.example/webhooks/twilio", form),
        )
        missing = post_form(loopback, form, None)
        changed = post_form(
            loopback, {**form, "MessageStatus": "failed"}, twilio_signature(TOKEN, public, form)
        )
        assert app.deliveries.list(channel="sms")[0].status == "sent"
        good = post_form(loopback, form, twilio_signature(TOKEN, public, form))
        replay = post_form(loopback, form, twilio_signature(TOKEN, public, form))
    for rejected in (wrong_token, wrong_url, missing, changed):
        assert rejected.status_code == 401
        assert rejected.json()["error"]["code"] == "unauthorized"
    assert (good.status_code, good.json()["delivery_status"]) == (200, "delivered")
    assert replay.json()["status"] == "replayed"
    (after,) = app.deliveries.list(channel="sms")
    assert (after.status, webhook_events(after)) == ("delivered", ["delivered"])


async def test_twilio_undelivered_is_failed_with_its_error_code(app: Tidings) -> None:
    d = await sent(app, "sms")
    form = twilio_form(d, "undelivered", ErrorCode="30005", ErrorMessage="Unknown destination")
    with serving(app) as base:  # no public URL: Twilio called this server directly
        url = f"{base}/webhooks/twilio?tenant=medilink"
        answer = post_form(url, form, twilio_signature(TOKEN, url, form))
    assert (answer.status_code, answer.json()["status"]) == (200, "applied")
    (after,) = app.deliveries.list(channel="sms")
    assert after.status == "failed"
    assert after.error == "Twilio undelivered: error 30005 (Unknown destination)"
    assert not app.suppressions.contains("sms", PHONE)


def test_webhooks_are_documented_without_an_api_key_and_404_when_unconfigured(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = notify_app(make_app, tmp_path)  # outbox only: no Resend, no Twilio
    with serving(app) as base:
        doc = httpx.get(f"{base}/openapi.json").json()
        resend = httpx.post(f"{base}/webhooks/resend", content=b"{}")
        twilio = httpx.post(f"{base}/webhooks/twilio", data={"MessageSid": "SM1"})
    for path in ("/webhooks/resend", "/webhooks/twilio"):
        operation = doc["paths"][path]["post"]
        assert "security" not in operation
        assert "requestBody" in operation
    assert [resend.status_code, twilio.status_code] == [404, 404]
    assert resend.json()["error"]["code"] == "webhook_not_configured"


def test_the_public_url_is_a_base_url_from_settings_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for bad in ("api.medilink.vn", "ftp://api.medilink.vn", "https://api.medilink.vn/?x=1"):
        with pytest.raises(ConfigError, match="public_url"):
            ServerSettings(public_url=bad)
    monkeypatch.setenv("TIDINGS_PUBLIC_URL", "https://api.medilink.vn/tidings/")
    assert ServerSettings.from_env().public_url == "https://api.medilink.vn/tidings"
