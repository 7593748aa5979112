"""Smtp against an aiosmtpd relay on loopback: plain, STARTTLS, implicit TLS, AUTH."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tidings.errors import ValidationError
from tidings.providers import PermanentProviderError, RetryableProviderError
from tidings.providers.smtp import Smtp

from .conftest import email_message
from .smtp_server import Relay, client_context, free_port, relay, self_signed

SENDER = "MediLink <noreply@medilink.vn>"


def smtp(port: int, **options: Any) -> Smtp:
    return Smtp("127.0.0.1", port, sender=SENDER, timeout=5, **options)


async def test_multipart_with_message_id_and_unsubscribe_headers() -> None:
    seen = Relay()
    with relay(seen) as port:
        provider = smtp(port, unsubscribe_url="https://medilink.vn/u?to={to}&t={type}")
        result = await provider.send(email_message())
        again = await provider.send(email_message())  # a retry of the same delivery
    first, second = seen.received
    assert first.mail_from == "noreply@medilink.vn"
    assert first.rcpt_tos == ["patient@example.com"]
    assert not first.tls
    mime = first.message
    assert mime["From"] == SENDER
    assert mime["To"] == "patient@example.com"
    assert mime["Subject"] == "Your lab results are ready"
    assert mime["Message-ID"] == result.provider_message_id
    assert str(mime["Message-ID"]).endswith("@medilink.vn>")
    assert second.message["Message-ID"] == again.provider_message_id == result.provider_message_id
    # Folded on the wire (aiosmtplib writes 78-column lines); unfolding leaves a space.
    assert str(mime["List-Unsubscribe"]).strip() == (
        "<https://medilink.vn/u?to=patient%40example.com&t=lab-results-ready>"
    )
    assert mime["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mime.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): p.get_content().strip() for p in mime.iter_parts()}
    assert parts == {"text/plain": "Hello An", "text/html": "<p>Hello <b>An</b></p>"}


async def test_critical_mail_has_no_unsubscribe_and_router_url_wins() -> None:
    seen = Relay()
    with relay(seen) as port:
        provider = smtp(port, unsubscribe_url="https://medilink.vn/u?to={to}")
        await provider.send(email_message(critical=True))
        await provider.send(
            email_message(2, headers={"List-Unsubscribe": "<mailto:unsub@medilink.vn>"})
        )
    critical, given = (r.message for r in seen.received)
    assert critical["List-Unsubscribe"] is None
    assert given["List-Unsubscribe"] == "<mailto:unsub@medilink.vn>"
    assert given["List-Unsubscribe-Post"] is None  # one-click needs an https URL


async def test_starttls_and_auth(tmp_path: Path) -> None:
    cert = self_signed(tmp_path)
    seen = Relay(users={"mailer": "s3cret-pass"})
    with relay(seen, cert=cert, starttls=True, auth=True) as port:
        provider = smtp(port, starttls=True, tls_context=client_context(cert[0]),
                        username="mailer", password="s3cret-pass")  # fmt: skip
        await provider.send(email_message())
        wrong = smtp(port, starttls=True, tls_context=client_context(cert[0]),
                     username="mailer", password="not-the-pass")  # fmt: skip
        with pytest.raises(RetryableProviderError) as refused:
            await wrong.send(email_message(2))
        plain = smtp(port)  # the relay requires STARTTLS before MAIL
        with pytest.raises(RetryableProviderError):
            await plain.send(email_message(3))
    assert [(r.tls, r.login) for r in seen.received] == [(True, "mailer")]
    assert refused.value.code == "535"
    assert "not-the-pass" not in str(refused.value) + repr(wrong)


async def test_implicit_tls(tmp_path: Path) -> None:
    cert = self_signed(tmp_path)
    seen = Relay()
    with relay(seen, cert=cert, implicit_tls=True) as port:
        await smtp(port, ssl=True, tls_context=client_context(cert[0])).send(email_message())
        untrusted = smtp(port, ssl=True)  # system CAs do not trust the self-signed cert
        with pytest.raises(RetryableProviderError) as failed:
            await untrusted.send(email_message(2))
    assert len(seen.received) == 1
    assert seen.received[0].tls
    assert failed.value.code == "connect_error"


async def test_mailbox_unavailable_is_permanent_and_suppresses() -> None:
    seen = Relay(rcpt_replies={"patient@example.com": "550 5.1.1 Mailbox unavailable"})
    with relay(seen) as port, pytest.raises(PermanentProviderError) as failed:
        await smtp(port).send(email_message())
    assert failed.value.code == "550"
    assert failed.value.suppress_address
    assert seen.received == []


async def test_policy_rejection_is_permanent_without_suppressing() -> None:
    seen = Relay(data_reply="554 5.7.1 Message rejected as spam")
    with relay(seen) as port, pytest.raises(PermanentProviderError) as failed:
        await smtp(port).send(email_message())
    assert failed.value.code == "554"
    assert not failed.value.suppress_address


@pytest.mark.parametrize(
    ("rcpt", "data"),
    [("451 4.3.0 Try again later", None), (None, "452 4.3.1 Insufficient storage")],
)
async def test_transient_replies_are_retryable(rcpt: str | None, data: str | None) -> None:
    seen = Relay(data_reply=data)
    if rcpt:
        seen.rcpt_replies["patient@example.com"] = rcpt
    with relay(seen) as port, pytest.raises(RetryableProviderError) as failed:
        await smtp(port).send(email_message())
    assert failed.value.code in {"451", "452"}


async def test_connection_refused_and_timeout_are_retryable() -> None:
    with pytest.raises(RetryableProviderError) as refused:
        await smtp(free_port()).send(email_message())
    assert refused.value.code == "connect_error"

    done = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await done.wait()  # accepts, never greets
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(RetryableProviderError) as slow:
            await Smtp("127.0.0.1", port, sender=SENDER, timeout=0.3).send(email_message())
    finally:
        done.set()
        await asyncio.sleep(0.05)
        server.close()
        await server.wait_closed()
    assert slow.value.code == "timeout"


def test_bad_options_are_rejected() -> None:
    with pytest.raises(ValidationError, match="exclude"):
        Smtp("h", sender="a@b.co", starttls=True, ssl=True)
    with pytest.raises(ValidationError, match="together"):
        Smtp("h", sender="a@b.co", username="u")
    with pytest.raises(ValidationError, match="sender"):
        Smtp("h", sender="nobody")


async def test_missing_body_fails_without_connecting() -> None:
    with pytest.raises(PermanentProviderError, match=r"email\.txt"):
        await smtp(free_port()).send(email_message(text=None, html=None))
