"""Resend against a loopback server speaking its documented wire format."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any

import pytest

from tests.fakes.fake_resend import FakeResend
from tests.fakes.server import Response, refused_url
from tidings.errors import ValidationError
from tidings.providers import PermanentProviderError, RetryableProviderError
from tidings.providers.resend import Resend

from .conftest import email_message

KEY = "re_test_key"


def provider(server: FakeResend, **options: Any) -> Resend:
    return Resend(
        api_key=KEY, sender="MediLink <noreply@medilink.vn>", base_url=server.url, **options
    )


async def test_success_sends_documented_wire_format(resend_server: FakeResend) -> None:
    resend = provider(resend_server, unsubscribe_url="https://medilink.vn/unsub?to={to}")
    try:
        result = await resend.send(email_message())
    finally:
        await resend.aclose()
    assert result.provider_message_id == resend_server.sent[0].id
    wire = resend_server.requests[0]
    assert wire.headers["authorization"] == f"Bearer {KEY}"
    assert wire.headers["idempotency-key"] == "idem-1"
    assert wire.headers["content-type"] == "application/json"
    body = wire.json()
    assert body["from"] == "MediLink <noreply@medilink.vn>"
    assert body["to"] == ["patient@example.com"]
    assert body["subject"] == "Your lab results are ready"
    assert body["html"] == "<p>Hello <b>An</b></p>"
    assert body["text"] == "Hello An"
    assert body["headers"] == {
        "List-Unsubscribe": "<https://medilink.vn/unsub?to=patient%40example.com>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert body["tags"] == [{"name": "tidings_type", "value": "lab-results-ready"}]


async def test_critical_message_has_no_unsubscribe_headers(resend_server: FakeResend) -> None:
    resend = provider(resend_server, unsubscribe_url="https://medilink.vn/unsub?to={to}")
    try:
        await resend.send(email_message(critical=True))
    finally:
        await resend.aclose()
    assert "headers" not in resend_server.requests[0].json()


async def test_retry_with_same_idempotency_key_sends_once(resend_server: FakeResend) -> None:
    # The first answer is lost (the client times out after Resend accepted the email);
    # the retry carries the same key, so Resend answers the same id and sends nothing.
    resend = provider(resend_server, timeout=0.3)
    original = resend_server.handle

    def slow_first(request):  # type: ignore[no-untyped-def]
        answer = original(request)
        if len(resend_server.requests) == 1:
            return dataclasses.replace(answer, delay=0.6)
        return answer

    resend_server.handle = slow_first  # type: ignore[method-assign]
    try:
        with pytest.raises(RetryableProviderError) as lost:
            await resend.send(email_message())
        assert lost.value.code == "timeout"
        result = await resend.send(email_message())
    finally:
        await resend.aclose()
    assert len(resend_server.requests) == 2
    assert len(resend_server.sent) == 1
    assert result.provider_message_id == resend_server.sent[0].id


async def test_validation_error_is_permanent_with_resend_name(resend_server: FakeResend) -> None:
    resend = provider(resend_server)
    try:
        with pytest.raises(PermanentProviderError) as failed:
            await resend.send(email_message(to="not-an-address"))
    finally:
        await resend.aclose()
    assert failed.value.code == "validation_error"
    assert "Invalid `to` field" in str(failed.value)
    assert resend_server.sent == []


async def test_reused_key_with_other_body_is_permanent(resend_server: FakeResend) -> None:
    resend = provider(resend_server)
    try:
        await resend.send(email_message())
        with pytest.raises(PermanentProviderError) as failed:
            await resend.send(email_message(subject="Another subject"))
    finally:
        await resend.aclose()
    assert failed.value.code == "invalid_idempotent_request"


async def test_rate_limited_answer_is_retryable_with_retry_after(
    resend_server: FakeResend,
) -> None:
    resend_server.script.append(
        Response(
            429,
            {"statusCode": 429, "name": "rate_limit_exceeded", "message": "slow"},
            {"retry-after": "7"},
        )
    )
    resend = provider(resend_server)
    try:
        with pytest.raises(RetryableProviderError) as limited:
            await resend.send(email_message())
    finally:
        await resend.aclose()
    assert limited.value.code == "rate_limit_exceeded"
    assert limited.value.retry_after == 7.0


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_error_is_retryable(resend_server: FakeResend, status: int) -> None:
    resend_server.script.append(
        Response(
            status,
            {
                "statusCode": status,
                "name": "internal_server_error",
                "message": "An unexpected error occurred.",
            },
        )
    )
    resend = provider(resend_server)
    try:
        with pytest.raises(RetryableProviderError) as failed:
            await resend.send(email_message())
    finally:
        await resend.aclose()
    assert failed.value.code == "internal_server_error"
    assert failed.value.retry_after is None


async def test_timeout_is_retryable(resend_server: FakeResend) -> None:
    resend_server.script.append(Response(200, {"id": "late"}, delay=1.0))
    resend = provider(resend_server, timeout=0.2)
    try:
        with pytest.raises(RetryableProviderError) as failed:
            await resend.send(email_message())
    finally:
        await resend.aclose()
    assert failed.value.code == "timeout"


async def test_connection_refused_is_retryable() -> None:
    resend = Resend(api_key=KEY, sender="noreply@medilink.vn", base_url=refused_url())
    try:
        with pytest.raises(RetryableProviderError) as failed:
            await resend.send(email_message())
    finally:
        await resend.aclose()
    assert failed.value.code == "connect_error"


async def test_bad_key_is_retryable_so_the_router_can_fail_over(
    resend_server: FakeResend,
) -> None:
    resend = Resend(
        api_key="re_wrong_secret_value", sender="noreply@medilink.vn", base_url=resend_server.url
    )
    try:
        with pytest.raises(RetryableProviderError) as failed:
            await resend.send(email_message())
    finally:
        await resend.aclose()
    assert failed.value.code == "invalid_api_key"
    assert "re_wrong_secret_value" not in str(failed.value)


async def test_client_side_limit_keeps_under_server_limit() -> None:
    # The server allows 5 requests in any second; the client keeps to 5/s on its own,
    # so 12 concurrent sends all succeed and none is answered 429.
    with FakeResend(api_key="re_limit_test_key", rate_per_second=5).running() as server:
        assert isinstance(server, FakeResend)
        resend = Resend(
            api_key="re_limit_test_key",
            sender="noreply@medilink.vn",
            base_url=server.url,
            rate_limit=5,
        )
        started = time.monotonic()
        try:
            await asyncio.gather(*(resend.send(email_message(n)) for n in range(12)))
        finally:
            await resend.aclose()
        elapsed = time.monotonic() - started
    assert len(server.sent) == 12
    assert elapsed >= 2.0  # 12 sends at 5/s: the 11th waits for the third window
    arrivals = [r.at for r in server.requests]
    for i in range(len(arrivals) - 5):
        assert arrivals[i + 5] - arrivals[i] >= 0.95


def test_rate_limit_is_exposed_for_sharing_and_names_no_secret() -> None:
    resend = Resend(api_key="re_abcdef123456", sender="noreply@medilink.vn")
    assert resend.rate_limit is not None
    assert resend.rate_limit.limit == 5
    assert resend.rate_limit.period.total_seconds() == 1.0
    assert resend.rate_limit.key.startswith("resend:")
    assert "re_abcdef123456" not in resend.rate_limit.key
    assert Resend(api_key="re_x1", sender="a@b.co", rate_limit=None).rate_limit is None


def test_secrets_never_in_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    resend = Resend(api_key="re_supersecret", sender="a@b.co", webhook_secret="whsec_c2VjcmV0")
    text = repr(resend) + caplog.text
    assert "re_supersecret" not in text
    assert "whsec_c2VjcmV0" not in text


def test_bad_options_are_rejected() -> None:
    with pytest.raises(ValidationError, match="sender"):
        Resend(api_key="re_x", sender="nobody")
    with pytest.raises(ValidationError, match="api_key"):
        Resend(api_key="", sender="a@b.co")
