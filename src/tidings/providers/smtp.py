"""Email over SMTP (aiosmtplib): any relay, Postfix, Amazon SES SMTP, Mailpit in dev.

One connection per send, so a relay restart never leaves a broken pooled session behind;
a batch (``send_batch``, a broadcast's batch run) reuses one connection across its
messages, opening a new one after any error.
The reply codes decide the outcome (RFC 5321 section 4.2): 4xx is transient, 5xx
permanent; a 550/551/553 refusal of the *recipient* means the mailbox does not exist and
the address is suppressed. A refusal of our own session (authentication, the envelope
sender) is the relay's configuration, not the message's fault, so it is retryable and
lets the router fail over to the channel's next provider.
"""

from __future__ import annotations

import email.utils
import ssl as _ssl
from collections.abc import Sequence
from email.message import EmailMessage
from typing import ClassVar

import aiosmtplib

from tidings.errors import ValidationError
from tidings.providers._http import redact
from tidings.providers.base import (
    Channel,
    Message,
    PermanentProviderError,
    Provider,
    ProviderError,
    RetryableProviderError,
    SendResult,
)
from tidings.providers.email import (
    check_sender,
    extra_headers,
    message_id,
    require_content,
    unsubscribe_headers,
)
from tidings.providers.limits import per_second, shared_limiter

MAILBOX_GONE = {550, 551, 553}
"""RCPT replies meaning the mailbox does not exist (unavailable, not local, bad name)."""


class Smtp(Provider):
    """Email over SMTP, multipart text + HTML.

    Args:
        host: The relay's host name or address.
        port: 25, 587 (STARTTLS) or 465 (implicit TLS).
        sender: The From address, ``"MediLink <noreply@medilink.vn>"``.
        username: For AUTH, with ``password`` (never shown in ``repr()`` or errors).
        password: For AUTH.
        starttls: Upgrade the connection with STARTTLS before AUTH and MAIL.
        ssl: Implicit TLS from the first byte (port 465); excludes ``starttls``.
        timeout: Seconds for connecting and for each reply.
        tls_context: The ``ssl.SSLContext`` verifying the relay (default: system CAs).
        unsubscribe_url: Template for ``List-Unsubscribe`` of non-critical types, with
            ``{to}``, ``{type}`` and ``{delivery_id}`` placeholders.
        rate_limit: Sends per second (None: unlimited).
        max_attempts: Sends tried before the delivery fails over to the next provider.
    """

    name: ClassVar[str] = "smtp"
    channels: ClassVar[frozenset[Channel]] = frozenset({Channel.EMAIL})

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        ssl: bool = False,
        timeout: float = 30.0,
        tls_context: _ssl.SSLContext | None = None,
        unsubscribe_url: str | None = None,
        rate_limit: float | None = None,
        max_attempts: int = 5,
    ) -> None:
        if not host:
            raise ValidationError("Smtp host is empty")
        if starttls and ssl:
            raise ValidationError(
                "Smtp starttls and ssl exclude each other: starttls upgrades a plain "
                "connection (port 587), ssl is TLS from the start (port 465)"
            )
        if (username is None) != (password is None):
            raise ValidationError("Smtp username and password go together; give both or none")
        self.host = host
        self.port = port
        self.sender = check_sender(sender, "Smtp")
        self.username = username
        self._password = password
        self.starttls = starttls
        self.ssl = ssl
        self.timeout = timeout
        self.tls_context = tls_context
        self.unsubscribe_url = unsubscribe_url
        self.rate_limit = per_second("smtp", f"{host}:{port}:{username}", rate_limit)
        self.max_attempts = max_attempts

    def __repr__(self) -> str:
        return (
            f"Smtp(host={self.host!r}, port={self.port}, sender={self.sender!r}, "
            f"username={self.username!r}, password={'[set]' if self._password else None}, "
            f"starttls={self.starttls}, ssl={self.ssl})"
        )

    def build(self, message: Message) -> EmailMessage:
        """The MIME message sent for ``message``."""
        require_content(message, "smtp")
        mime = EmailMessage()
        mime["From"] = self.sender
        mime["To"] = message.to
        mime["Subject"] = message.subject or ""
        mime["Date"] = email.utils.formatdate(localtime=False)
        mime["Message-ID"] = message_id(message, self.sender)
        for name, value in {
            **extra_headers(message),
            **unsubscribe_headers(message, self.unsubscribe_url),
        }.items():
            mime[name] = value
        if message.text and message.html:
            mime.set_content(message.text)
            mime.add_alternative(message.html, subtype="html")
        elif message.html:
            mime.set_content(message.html, subtype="html")
        else:
            mime.set_content(message.text or "")
        return mime

    async def send(self, message: Message) -> SendResult:
        """One message over a connection of its own: a batch of one."""
        (outcome,) = await self.send_batch([message])
        if isinstance(outcome, ProviderError):
            raise outcome
        return outcome

    async def send_batch(self, messages: Sequence[Message]) -> list[SendResult | ProviderError]:
        """Send over one connection, reused message after message; a message the relay
        refuses fails alone (the connection is then replaced for the next one)."""
        outcomes: list[SendResult | ProviderError] = []
        client: aiosmtplib.SMTP | None = None
        try:
            for message in messages:
                try:
                    mime = self.build(message)
                    if client is None:
                        client = await self._connect()
                    if self.rate_limit is None:
                        await self._over(client, mime, message.to)
                    else:
                        async with shared_limiter(self.rate_limit).permit():
                            await self._over(client, mime, message.to)
                    outcomes.append(SendResult(provider_message_id=mime["Message-ID"]))
                except ProviderError as exc:
                    outcomes.append(exc)
                    await _drop(client)
                    client = None
        finally:
            await _drop(client, quit=True)
        return outcomes

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self._password,
            use_tls=self.ssl,
            start_tls=self.starttls,
            timeout=self.timeout,
            tls_context=self.tls_context,
        )
        try:
            await client.connect()
        except aiosmtplib.SMTPException as exc:
            raise self._error(exc) from None
        except OSError as exc:  # refused, unreachable, TLS handshake (ssl.SSLError)
            raise self._unreachable(exc) from None
        return client

    async def _over(self, client: aiosmtplib.SMTP, mime: EmailMessage, to: str) -> None:
        envelope_from = email.utils.parseaddr(self.sender)[1]
        try:
            await client.send_message(mime, sender=envelope_from, recipients=[to])
        except aiosmtplib.SMTPException as exc:
            raise self._error(exc) from None
        except OSError as exc:  # refused, unreachable, TLS handshake (ssl.SSLError)
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: OSError) -> ProviderError:
        return RetryableProviderError(
            f"smtp: cannot talk to {self.host}:{self.port}: {self._redact(str(exc))}",
            code="connect_error",
        )

    def _redact(self, text: str) -> str:
        return redact(text, (self._password,))

    def _error(self, exc: aiosmtplib.SMTPException) -> ProviderError:
        where = f"{self.host}:{self.port}"
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
            return self._refused(exc.recipients[0])
        if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
            return self._refused(exc)
        if isinstance(exc, aiosmtplib.SMTPTimeoutError):
            return RetryableProviderError(
                f"smtp: {where} did not answer within {self.timeout:g}s", code="timeout"
            )
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            return RetryableProviderError(
                f"smtp: {where} refused the login ({exc.code} {self._redact(exc.message)}); "
                "check the username and password",
                code=str(exc.code),
            )
        if isinstance(exc, aiosmtplib.SMTPDataError) and exc.code >= 500:
            return PermanentProviderError(
                f"smtp: {where} rejected the message: {exc.code} {self._redact(exc.message)}",
                code=str(exc.code),
            )
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            return RetryableProviderError(
                f"smtp: {where} answered {exc.code} {self._redact(exc.message)}",
                code=str(exc.code),
            )
        # Disconnected, connect errors, STARTTLS or AUTH not offered: the relay's state
        # or configuration, which another attempt or provider may not share.
        return RetryableProviderError(
            f"smtp: {where}: {type(exc).__name__}: {self._redact(str(exc))}",
            code="connect_error",
        )

    def _refused(self, exc: aiosmtplib.SMTPRecipientRefused) -> ProviderError:
        text = f"smtp: {self.host}:{self.port} refused the recipient: {exc.code} {exc.message}"
        if exc.code < 500:
            return RetryableProviderError(text, code=str(exc.code))
        gone = exc.code in MAILBOX_GONE and "5.7." not in exc.message  # 5.7.x: policy
        return PermanentProviderError(text, code=str(exc.code), suppress_address=gone)


async def _drop(client: aiosmtplib.SMTP | None, *, quit: bool = False) -> None:
    """Close a batch's connection (politely with QUIT at the end); never raises.

    Closed whatever state it is in: a relay that hung up leaves a client that is no
    longer "connected" but still holds its transport until ``close()``.
    """
    if client is None:
        return
    try:
        if quit and client.is_connected:
            await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        pass
    finally:
        client.close()
