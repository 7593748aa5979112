"""Twilio SMS against a loopback server speaking the Messages API's wire format."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest

from tests.fakes.fake_twilio import FakeTwilio
from tests.fakes.server import Response, refused_url
from tidings.errors import ValidationError
from tidings.providers import Message, PermanentProviderError, RetryableProviderError
from tidings.providers.twilio import Twilio

SID = "AC" + "0" * 32
TOKEN = "twilio_test_token"


def sms(to: str = "+84901234567", **changes: Any) -> Message:
    fields: dict[str, Any] = {
        "delivery_id": "dlv_1",
        "idempotency_key": "idem-1",
        "channel": "sms",
        "type_id": "prescription-ready",
        "to": to,
        "locale": "vi",
        "text": "Đơn thuốc của bạn đã sẵn sàng",
    }
    fields.update(changes)
    return Message(**fields)


def provider(server: FakeTwilio, **options: Any) -> Twilio:
    options.setdefault("from_", "+15005550006")
    return Twilio(account_sid=SID, auth_token=TOKEN, base_url=server.url, **options)


async def test_success_posts_form_with_basic_auth(twilio_server: FakeTwilio) -> None:
    twilio = provider(twilio_server, status_callback="https://medilink.vn/webhooks/twilio")
    try:
        result = await twilio.send(sms())
    finally:
        await twilio.aclose()
    assert result.provider_message_id == twilio_server.sent[0].sid
    assert result.provider_message_id is not None
    assert result.provider_message_id.startswith("SM")
    assert result.details == {"status": "queued", "num_segments": "1"}
    wire = twilio_server.requests[0]
    assert wire.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert wire.headers["content-type"] == "application/x-www-form-urlencoded"
    assert wire.headers["authorization"] == "Basic " + base64.b64encode(
        f"{SID}:{TOKEN}".encode()
    ).decode("ascii")
    assert wire.form() == {
        "To": "+84901234567",
        "From": "+15005550006",
        "Body": "Đơn thuốc của bạn đã sẵn sàng",
        "StatusCallback": "https://medilink.vn/webhooks/twilio",
    }


async def test_messaging_service_instead_of_from(twilio_server: FakeTwilio) -> None:
    twilio = provider(twilio_server, from_=None, messaging_service_sid="MG" + "1" * 32)
    try:
        result = await twilio.send(sms())
    finally:
        await twilio.aclose()
    assert result.details["status"] == "accepted"
    form = twilio_server.requests[0].form()
    assert form["MessagingServiceSid"] == "MG" + "1" * 32
    assert "From" not in form


def test_exactly_one_sender_is_required() -> None:
    with pytest.raises(ValidationError, match="neither"):
        Twilio(account_sid=SID, auth_token=TOKEN)
    with pytest.raises(ValidationError, match="both"):
        Twilio(account_sid=SID, auth_token=TOKEN, from_="+1500", messaging_service_sid="MG1")


async def test_invalid_number_is_permanent(twilio_server: FakeTwilio) -> None:
    twilio = provider(twilio_server)
    try:
        with pytest.raises(PermanentProviderError) as failed:
            await twilio.send(sms(to="0901234567"))
    finally:
        await twilio.aclose()
    assert failed.value.code == "21211"
    assert not failed.value.suppress_address
    assert "not a valid phone number" in str(failed.value)


async def test_unsubscribed_recipient_is_suppressed(twilio_server: FakeTwilio) -> None:
    twilio_server.unsubscribed.add("+84901234567")
    twilio = provider(twilio_server)
    try:
        with pytest.raises(PermanentProviderError) as failed:
            await twilio.send(sms())
    finally:
        await twilio.aclose()
    assert failed.value.code == "21610"
    assert failed.value.suppress_address
    assert twilio_server.sent == []


async def test_too_many_requests_is_retryable(twilio_server: FakeTwilio) -> None:
    twilio_server.script.append(
        Response(429, {"code": 20429, "message": "Too Many Requests", "status": 429},
                 {"Retry-After": "3"})
    )  # fmt: skip
    twilio = provider(twilio_server)
    try:
        with pytest.raises(RetryableProviderError) as limited:
            await twilio.send(sms())
    finally:
        await twilio.aclose()
    assert limited.value.code == "20429"
    assert limited.value.retry_after == 3.0


async def test_server_error_is_retryable(twilio_server: FakeTwilio) -> None:
    twilio_server.script.append(
        Response(503, {"code": 20500, "message": "Internal Server Error", "status": 503})
    )
    twilio = provider(twilio_server)
    try:
        with pytest.raises(RetryableProviderError) as failed:
            await twilio.send(sms())
    finally:
        await twilio.aclose()
    assert failed.value.code == "20500"


async def test_timeout_and_refused_connection_are_retryable(twilio_server: FakeTwilio) -> None:
    twilio_server.script.append(Response(201, {"sid": "SMlate"}, delay=1.0))
    twilio = provider(twilio_server, timeout=0.2)
    refused = Twilio(account_sid=SID, auth_token=TOKEN, from_="+1500", base_url=refused_url())
    try:
        with pytest.raises(RetryableProviderError) as slow:
            await twilio.send(sms())
        with pytest.raises(RetryableProviderError) as down:
            await refused.send(sms())
    finally:
        await twilio.aclose()
        await refused.aclose()
    assert slow.value.code == "timeout"
    assert down.value.code == "connect_error"


async def test_wrong_token_is_retryable_and_redacted(
    twilio_server: FakeTwilio, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    twilio = Twilio(account_sid=SID, auth_token="wrong_token_value", from_="+15005550006",
                    base_url=twilio_server.url)  # fmt: skip
    try:
        with pytest.raises(RetryableProviderError) as failed:
            await twilio.send(sms())
    finally:
        await twilio.aclose()
    assert failed.value.code == "20003"
    shown = str(failed.value) + repr(twilio) + caplog.text
    assert "wrong_token_value" not in shown


async def test_missing_text_is_permanent_without_a_request(twilio_server: FakeTwilio) -> None:
    twilio = provider(twilio_server)
    try:
        with pytest.raises(PermanentProviderError, match=r"sms\.txt"):
            await twilio.send(sms(text=None))
    finally:
        await twilio.aclose()
    assert twilio_server.requests == []
