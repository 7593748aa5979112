"""Provider batches: Resend's ``POST /emails/batch`` against its loopback fake, and a
broadcast sent through Resend and Expo in batch runs (both stores)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import START
from tests.contract.notify_support import notify_app
from tests.fakes.fake_expo import FakeExpo
from tests.fakes.fake_resend import FakeResend
from tests.fakes.fake_twilio import FakeTwilio
from tidings import Tidings
from tidings.providers import Expo, PermanentProviderError, Resend, SendResult, Smtp, Twilio
from tidings.providers.base import Message
from tidings.records.notify import Channel
from tidings.testing import TestEngine

from .conftest import email_message
from .smtp_server import Relay, relay

KEY = "re_test_key"
SID = "AC" + "0" * 32


def sms_message(n: int) -> Message:
    return Message(delivery_id=f"dlv_{n}", idempotency_key=f"idem-{n}", channel=Channel.SMS,
                   type_id="alert", to=f"+8490{n:07d}", locale="en", text="Hi")  # fmt: skip


def resend(server: FakeResend, **options: object) -> Resend:
    return Resend(api_key=KEY, sender="MediLink <noreply@medilink.vn>", base_url=server.url,
                  **options)  # type: ignore[arg-type]  # fmt: skip


async def test_resend_batch_of_250_in_requests_of_100_one_key_each(
    resend_server: FakeResend,
) -> None:
    provider = resend(resend_server)
    messages = [email_message(i, to=f"p{i}@example.com") for i in range(250)]
    try:
        outcomes = await provider.send_batch(messages)
        again = await provider.send_batch(messages)  # a retried batch: same keys
    finally:
        await provider.aclose()
    sizes = [n for _, n in resend_server.batches]
    assert sizes == [100, 100, 50]  # the repeat was answered from the keys
    assert [r.path for r in resend_server.requests] == ["/emails/batch"] * 6
    keys = [r.headers["idempotency-key"] for r in resend_server.requests]
    assert len(set(keys[:3])) == 3
    assert keys[3:] == keys[:3]
    assert len(resend_server.sent) == 250  # the repeat was answered from the key
    assert [o.provider_message_id for o in outcomes] == [e.id for e in resend_server.sent]  # type: ignore[union-attr]
    assert [o.provider_message_id for o in again] == [o.provider_message_id for o in outcomes]  # type: ignore[union-attr]
    wire = resend_server.requests[0]
    assert wire.headers["x-batch-validation"] == "permissive"
    assert wire.json()[0]["to"] == ["p0@example.com"]


async def test_resend_batch_with_one_bad_address_sends_the_rest(
    resend_server: FakeResend,
) -> None:
    provider = resend(resend_server)
    messages = [email_message(i, to=f"p{i}@example.com") for i in range(5)]
    messages[2] = email_message(2, to="not an address")
    messages[4] = email_message(4, subject="")  # refused before the request
    try:
        outcomes = await provider.send_batch(messages)
    finally:
        await provider.aclose()
    assert [type(o).__name__ for o in outcomes] == [
        "SendResult", "SendResult", "PermanentProviderError", "SendResult",
        "PermanentProviderError",
    ]  # fmt: skip
    assert isinstance(outcomes[2], PermanentProviderError)
    assert "refused" in str(outcomes[2])
    assert [e.body["to"] for e in resend_server.sent] == [
        ["p0@example.com"], ["p1@example.com"], ["p3@example.com"],
    ]  # fmt: skip
    assert len(resend_server.requests) == 1
    sent_ids = {e.id for e in resend_server.sent}
    assert {o.provider_message_id for o in outcomes if isinstance(o, SendResult)} == sent_ids


async def test_broadcast_goes_out_in_provider_batches(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    with FakeResend(api_key=KEY).running() as rs, FakeExpo().running() as ex:
        assert isinstance(rs, FakeResend)
        assert isinstance(ex, FakeExpo)
        app = notify_app(
            make_app,
            tmp_path,
            channels={"email": [resend(rs, timeout=5)], "push": [Expo(base_url=ex.url, timeout=5)]},
        )
        ids = [f"u{i:04d}" for i in range(230)]
        rs.refused.add("u0017@example.com")
        for _i, rid in enumerate(ids):
            app.recipients.upsert(rid, email=f"{rid}@example.com")
            app.recipients.add_push_token(rid, f"ExponentPushToken[{rid}]")
        async with TestEngine(app, start=START, outbox=False) as t:
            handle = app.notify("alert", to=ids, data={"name": "An"}, channels=["email", "push"])
            await t.run_due()
            counts = app.broadcasts.get(handle.id).counts
        await app.notifications.aclose()
    assert counts == {"email": {"sent": 229, "failed": 1}, "push": {"sent": 230}}
    assert sorted(n for _, n in rs.batches) == [30, 100, 100]
    assert len(rs.sent) == 229
    assert sorted(len(r.json()) for r in ex.requests) == [30, 100, 100]
    (failed,) = app.deliveries.list(to="u0017", channel="email")
    assert (failed.status, failed.attempts) == ("failed", 1)


async def test_smtp_batch_reuses_one_connection_and_a_refusal_fails_alone() -> None:
    seen = Relay(rcpt_replies={"p2@example.com": "550 5.1.1 Mailbox unavailable"})
    with relay(seen) as port:
        provider = Smtp("127.0.0.1", port, sender="MediLink <noreply@medilink.vn>", timeout=5)
        messages = [email_message(i, to=f"p{i}@example.com") for i in range(6)]
        outcomes = await provider.send_batch(messages)
    assert [type(o).__name__ for o in outcomes] == [
        "SendResult", "SendResult", "PermanentProviderError", "SendResult", "SendResult",
        "SendResult",
    ]  # fmt: skip
    assert isinstance(outcomes[2], PermanentProviderError)
    assert outcomes[2].suppress_address
    assert [r.rcpt_tos for r in seen.received] == [[f"p{i}@example.com"] for i in (0, 1, 3, 4, 5)]
    peers = [r.peer for r in seen.received]
    assert len(set(peers[:2])) == 1  # one connection until the refusal
    assert len(set(peers[2:])) == 1  # and one after it
    assert len(set(peers)) == 2


async def test_twilio_batch_sends_with_bounded_concurrency() -> None:
    with FakeTwilio(account_sid=SID).running() as tw:
        assert isinstance(tw, FakeTwilio)
        provider = Twilio(
            account_sid=SID, auth_token="twilio_test_token", from_="+15005550006",
            base_url=tw.url, timeout=5, rate_limit=None,
        )  # fmt: skip
        tw.delay = 0.05
        messages = [sms_message(i) for i in range(25)]
        try:
            outcomes = await provider.send_batch(messages)
        finally:
            await provider.aclose()
    assert all(isinstance(o, SendResult) for o in outcomes)
    assert len(tw.requests) == 25
    assert 1 < tw.max_in_flight <= 8
