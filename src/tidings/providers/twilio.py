"""SMS through Twilio's Programmable Messaging REST API.

Wire format followed (Twilio "Messages resource: create", "Twilio API responses" and the
error dictionary): ``POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`` with
HTTP basic auth ``AccountSid:AuthToken`` and an ``application/x-www-form-urlencoded`` body
of ``To``, ``Body`` and exactly one of ``From`` / ``MessagingServiceSid``, plus an optional
``StatusCallback`` URL. Success is ``201`` with the Message resource as JSON (``sid``
``SM...``, ``status`` ``queued`` or ``accepted``, ``num_segments``...); an error is
``{"code", "message", "more_info", "status"}``. Codes mapped here: 21211 invalid ``To``
(fail), 21610 recipient unsubscribed (fail and suppress the number), 20429 too many
requests and any 5xx (retry), 20003 authentication (retry so the router can fail over).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, ClassVar

import httpx

from tidings.errors import ValidationError
from tidings.providers._http import HttpProvider, json_body, redact, retry_after
from tidings.providers.base import (
    Channel,
    Message,
    PermanentProviderError,
    ProviderError,
    RetryableProviderError,
    SendResult,
)
from tidings.providers.limits import per_second

INVALID_NUMBER = 21211
UNSUBSCRIBED = 21610
TOO_MANY_REQUESTS = 20429
AUTHENTICATE = 20003

_PERMANENT_NUMBER_ERRORS = {
    21211: "invalid 'To' number",
    21214: "'To' number cannot be reached",
    21612: "'To' number is not currently reachable",
    21614: "'To' number is not a mobile number",
}


BATCH_CONCURRENCY = 8
"""Requests a batch keeps in flight at once."""


class Twilio(HttpProvider):
    """Twilio SMS (``POST .../Messages.json``).

    Args:
        account_sid: ``AC...``.
        auth_token: Never shown in ``repr()``, logs or errors; also verifies
            ``X-Twilio-Signature`` on status callbacks.
        from_: The sending number (E.164) or alphanumeric sender id.
        messaging_service_sid: ``MG...``, instead of ``from_``.
        status_callback: URL Twilio posts status changes to (``/webhooks/twilio``).
        base_url: Overridable for a test server.
        rate_limit: Sends per second (None: Twilio queues and paces itself).
        timeout: Seconds to wait for Twilio's answer.
        max_attempts: Sends tried before the delivery fails over to the next provider.

    Twilio takes no idempotency key on message creation: a send whose answer timed out
    may have been accepted, and retrying it (which the router does for a timeout) may
    deliver the SMS twice. tidings prefers that to losing it; keep ``timeout`` generous.
    """

    name: ClassVar[str] = "twilio"
    channels: ClassVar[frozenset[Channel]] = frozenset({Channel.SMS})

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_: str | None = None,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
        base_url: str = "https://api.twilio.com",
        *,
        rate_limit: float | None = None,
        timeout: float = 15.0,
        max_attempts: int = 5,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValidationError("Twilio needs account_sid and auth_token")
        if (from_ is None) == (messaging_service_sid is None):
            raise ValidationError(
                "Twilio needs exactly one of from_ (a sending number like '+15005550006') "
                "and messaging_service_sid ('MG...'), got "
                + ("both" if from_ is not None else "neither")
            )
        self.account_sid = account_sid
        self._auth_token = auth_token
        self.from_ = from_
        self.messaging_service_sid = messaging_service_sid
        self.status_callback = status_callback
        self.base_url = base_url.rstrip("/")
        self.rate_limit = per_second("twilio", account_sid, rate_limit)
        self.timeout = timeout
        self.max_attempts = max_attempts

    @property
    def auth_token(self) -> str:
        """The account's auth token (the key of ``X-Twilio-Signature``)."""
        return self._auth_token

    def __repr__(self) -> str:
        sender = (
            f"from_={self.from_!r}"
            if self.from_
            else (f"messaging_service_sid={self.messaging_service_sid!r}")
        )
        return (
            f"Twilio(account_sid={self.account_sid!r}, {sender}, base_url={self.base_url!r}, "
            "auth_token=[set])"
        )

    def _secrets(self) -> tuple[str | None, ...]:
        return (self._auth_token,)

    def _client_options(self) -> dict[str, Any]:
        return {"auth": httpx.BasicAuth(self.account_sid, self._auth_token)}

    def form(self, message: Message) -> dict[str, str]:
        """The form fields sent for ``message``."""
        text = message.text or message.body
        if not text:
            raise PermanentProviderError(
                f"twilio: SMS for delivery {message.delivery_id} has no text (check the "
                f"sms.txt template of {message.type_id!r})",
                code="invalid_message",
            )
        form = {"To": message.to, "Body": text}
        if self.from_ is not None:
            form["From"] = self.from_
        else:
            assert self.messaging_service_sid is not None
            form["MessagingServiceSid"] = self.messaging_service_sid
        if self.status_callback:
            form["StatusCallback"] = self.status_callback
        return form

    async def send_batch(self, messages: Sequence[Message]) -> list[SendResult | ProviderError]:
        """One request per message (Twilio has no batch endpoint), at most
        :data:`BATCH_CONCURRENCY` in flight; one outcome per message, in order."""
        gate = asyncio.Semaphore(BATCH_CONCURRENCY)

        async def one(message: Message) -> SendResult | ProviderError:
            async with gate:
                try:
                    return await self.send(message)
                except ProviderError as exc:
                    return exc

        return list(await asyncio.gather(*(one(m) for m in messages)))

    async def send(self, message: Message) -> SendResult:
        form = self.form(message)
        async with self._throttle():
            response = await self._request(
                "POST", f"/2010-04-01/Accounts/{self.account_sid}/Messages.json", data=form
            )
        if response.status_code in (200, 201):
            data = json_body(response)
            if isinstance(data, dict) and isinstance(data.get("sid"), str):
                details = {
                    k: data[k] for k in ("status", "num_segments") if data.get(k) is not None
                }
                return SendResult(provider_message_id=data["sid"], details=details)
            raise RetryableProviderError(
                f"twilio: answered {response.status_code} without a message sid",
                code="bad_response",
            )
        raise self._error(response)

    def _error(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        data = json_body(response)
        data = data if isinstance(data, dict) else {}
        code = data.get("code")
        detail = redact(str(data.get("message") or response.reason_phrase), self._secrets())
        name = str(code) if code is not None else f"http_{status}"
        text = f"twilio: {status} error {name}: {detail}"
        if code == UNSUBSCRIBED:
            return PermanentProviderError(
                f"{text} (the recipient replied STOP)", code=name, suppress_address=True
            )
        if code == TOO_MANY_REQUESTS or status == 429 or status >= 500:
            return RetryableProviderError(
                text, code=name, retry_after=retry_after(response.headers)
            )
        if code == AUTHENTICATE or status in (401, 403):
            return RetryableProviderError(
                f"{text} (check the Twilio account_sid and auth_token)", code=name
            )
        if code in _PERMANENT_NUMBER_ERRORS:
            return PermanentProviderError(f"{text} ({_PERMANENT_NUMBER_ERRORS[code]})", code=name)
        return PermanentProviderError(text, code=name)
