"""Webhook signatures (Svix for Resend, X-Twilio-Signature) and event parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tidings.errors import ValidationError
from tidings.providers.webhooks import (
    WebhookPayloadError,
    WebhookSignatureError,
    parse_resend_event,
    parse_twilio_status,
    resend_webhook,
    svix_sign,
    twilio_signature,
    twilio_webhook,
    verify_svix,
    verify_twilio,
)

# Svix's published example (docs "How to verify"): an independent reference vector.
SVIX_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SVIX_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SVIX_TS = 1614265330
SVIX_BODY = b'{"test": 2432232314}'
SVIX_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
SVIX_NOW = datetime.fromtimestamp(SVIX_TS, UTC)

# Twilio's published example (its request-validation docs and SDK tests).
TWILIO_TOKEN = "12345"
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
TWILIO_SIG = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def svix_headers(sig: str = SVIX_SIG, ts: int = SVIX_TS, msg_id: str = SVIX_ID) -> dict[str, str]:
    return {"svix-id": msg_id, "svix-timestamp": str(ts), "svix-signature": sig}


def test_svix_published_vector_verifies() -> None:
    assert svix_sign(SVIX_SECRET, SVIX_ID, SVIX_TS, SVIX_BODY) == SVIX_SIG
    assert verify_svix(SVIX_SECRET, svix_headers(), SVIX_BODY, now=SVIX_NOW) == SVIX_ID


def test_svix_any_of_several_signatures_and_header_case() -> None:
    headers = {
        "Svix-Id": SVIX_ID,
        "Svix-Timestamp": str(SVIX_TS),
        "Svix-Signature": "v1,bm90IHRoaXMgb25l v2,ignored " + SVIX_SIG,
    }
    assert verify_svix(SVIX_SECRET, headers, SVIX_BODY, now=SVIX_NOW) == SVIX_ID


@pytest.mark.parametrize(
    ("headers", "body", "match"),
    [
        (svix_headers(), b'{"test": 2432232315}', "no svix-signature matches"),
        (svix_headers(sig="v1,AAAA"), SVIX_BODY, "no svix-signature matches"),
        (svix_headers(msg_id="msg_other"), SVIX_BODY, "no svix-signature matches"),
        ({"svix-id": SVIX_ID, "svix-timestamp": str(SVIX_TS)}, SVIX_BODY, "missing"),
        (svix_headers(ts=SVIX_TS + 1), SVIX_BODY, "no svix-signature matches"),
    ],
)
def test_svix_invalid(headers: dict[str, str], body: bytes, match: str) -> None:
    with pytest.raises(WebhookSignatureError, match=match):
        verify_svix(SVIX_SECRET, headers, body, now=SVIX_NOW)


def test_svix_expired_and_future_timestamps_are_rejected() -> None:
    with pytest.raises(WebhookSignatureError, match="too old"):
        verify_svix(SVIX_SECRET, svix_headers(), SVIX_BODY, now=SVIX_NOW + timedelta(minutes=6))
    with pytest.raises(WebhookSignatureError, match="in the future"):
        verify_svix(SVIX_SECRET, svix_headers(), SVIX_BODY, now=SVIX_NOW - timedelta(minutes=6))
    # Within five minutes either way is accepted (clock skew).
    verify_svix(SVIX_SECRET, svix_headers(), SVIX_BODY, now=SVIX_NOW + timedelta(minutes=4))


def test_svix_bad_secret_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="whsec_"):
        verify_svix("whsec_not base64!", svix_headers(), SVIX_BODY, now=SVIX_NOW)


def resend_event(kind: str, **data: object) -> dict[str, object]:
    return {
        "type": kind,
        "created_at": "2026-03-01T09:00:00.000Z",
        "data": {
            "email_id": "4ef9a417-02e9-4d39-ad75-9611e0fcc33c",
            "from": "MediLink <noreply@medilink.vn>",
            "to": ["patient@example.com"],
            "subject": "Your lab results",
            **data,
        },
    }


@pytest.mark.parametrize(
    ("kind", "status", "suppress"),
    [
        ("email.sent", "sent", False),
        ("email.delivered", "delivered", False),
        ("email.delivery_delayed", "delayed", False),
        ("email.complained", "complained", True),
        ("email.opened", "opened", False),
        ("email.clicked", "clicked", False),
    ],
)
def test_resend_events(kind: str, status: str, suppress: bool) -> None:
    update = parse_resend_event(resend_event(kind))
    assert update is not None
    assert update.provider == "resend"
    assert update.provider_message_id == "4ef9a417-02e9-4d39-ad75-9611e0fcc33c"
    assert update.status == status
    assert update.suppress_address is suppress
    assert update.address == "patient@example.com"
    assert update.occurred_at == datetime(2026, 3, 1, 9, tzinfo=UTC)


def test_resend_hard_and_soft_bounces_and_failures() -> None:
    hard = parse_resend_event(
        resend_event(
            "email.bounced",
            bounce={"message": "mailbox does not exist", "subType": "General", "type": "Permanent"},
        )
    )
    soft = parse_resend_event(
        resend_event("email.bounced", bounce={"message": "mailbox full", "type": "Transient"})
    )
    failed = parse_resend_event(resend_event("email.failed", failed={"reason": "quota"}))
    assert hard is not None
    assert soft is not None
    assert failed is not None
    assert (hard.status, hard.suppress_address) == ("bounced", True)
    assert hard.error == "Permanent/General bounce: mailbox does not exist"
    assert (soft.status, soft.suppress_address) == ("bounced", False)
    assert (failed.status, failed.error) == ("failed", "quota")


def test_resend_non_email_events_are_ignored_and_bad_bodies_rejected() -> None:
    assert parse_resend_event({"type": "contact.created", "data": {"id": "c1"}}) is None
    with pytest.raises(WebhookPayloadError):
        parse_resend_event(b"not json")
    with pytest.raises(WebhookPayloadError, match="email_id"):
        parse_resend_event({"type": "email.delivered", "data": {}})


def test_resend_webhook_verifies_then_parses_with_svix_id_as_event_id() -> None:
    secret = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHM="
    body = json.dumps(resend_event("email.delivered")).encode()
    now = datetime(2026, 3, 1, 9, 0, 30, tzinfo=UTC)
    ts = int(now.timestamp())
    headers = svix_headers(svix_sign(secret, "msg_1", ts, body), ts, "msg_1")
    update = resend_webhook(secret, headers, body, now=now)
    assert update is not None
    assert update.event_id == "msg_1"
    assert update.status == "delivered"
    with pytest.raises(WebhookSignatureError):
        resend_webhook(secret, headers, body.replace(b"delivered", b"bounced"), now=now)


def test_twilio_published_vectors() -> None:
    assert twilio_signature(TWILIO_TOKEN, TWILIO_URL, TWILIO_PARAMS) == TWILIO_SIG
    verify_twilio(TWILIO_TOKEN, TWILIO_URL, TWILIO_PARAMS, TWILIO_SIG)
    repeated = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"),
                ("Digits", "1234"), ("Digits", "1234")]  # fmt: skip
    assert twilio_signature(TWILIO_TOKEN, TWILIO_URL, repeated) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


@pytest.mark.parametrize(
    ("url", "params", "signature"),
    [
        (TWILIO_URL, {**TWILIO_PARAMS, "Digits": "9999"}, TWILIO_SIG),
        (TWILIO_URL + "&extra=1", TWILIO_PARAMS, TWILIO_SIG),
        (TWILIO_URL, TWILIO_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8X"),
        (TWILIO_URL, TWILIO_PARAMS, None),
    ],
)
def test_twilio_invalid(url: str, params: dict[str, str], signature: str | None) -> None:
    with pytest.raises(WebhookSignatureError):
        verify_twilio(TWILIO_TOKEN, url, params, signature)


def test_twilio_url_with_default_port_still_verifies() -> None:
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    verify_twilio(TWILIO_TOKEN, with_port, TWILIO_PARAMS, TWILIO_SIG)


def status(sid: str = "SM" + "a" * 32, state: str = "delivered", **extra: str) -> dict[str, str]:
    return {"MessageSid": sid, "SmsSid": sid, "MessageStatus": state, "SmsStatus": state,
            "AccountSid": "AC" + "0" * 32, "From": "+15005550006", "To": "+84901234567",
            "ApiVersion": "2010-04-01", **extra}  # fmt: skip


@pytest.mark.parametrize(
    ("state", "expected"),
    [("queued", "queued"), ("sent", "sent"), ("delivered", "delivered"),
     ("undelivered", "failed"), ("failed", "failed")],
)  # fmt: skip
def test_twilio_status_callbacks(state: str, expected: str) -> None:
    update = parse_twilio_status(status(state=state))
    assert update is not None
    assert update.status == expected
    assert update.provider_message_id == "SM" + "a" * 32
    assert update.address == "+84901234567"
    assert update.event_id == f"SM{'a' * 32}:{state}"


def test_twilio_error_codes() -> None:
    stop = parse_twilio_status(status(state="failed", ErrorCode="21610"))
    carrier = parse_twilio_status(status(state="undelivered", ErrorCode="30003"))
    assert stop is not None
    assert carrier is not None
    assert stop.suppress_address
    assert stop.error == "Twilio failed: error 21610"
    assert not carrier.suppress_address
    assert carrier.error == "Twilio undelivered: error 30003"
    with pytest.raises(WebhookPayloadError):
        parse_twilio_status({"To": "+1"})


def test_twilio_webhook_uses_idempotency_token_when_sent() -> None:
    url = "https://medilink.vn/webhooks/twilio"
    params = status()
    headers = {
        "X-Twilio-Signature": twilio_signature("tok", url, params),
        "I-Twilio-Idempotency-Token": "idem-abc",
    }
    update = twilio_webhook("tok", url, headers, params)
    assert update is not None
    assert update.event_id == "idem-abc"
    with pytest.raises(WebhookSignatureError):
        twilio_webhook("other-token", url, headers, params)
