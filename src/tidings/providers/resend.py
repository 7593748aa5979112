"""Email through Resend's REST API.

Wire format followed (Resend API reference, "Send Email", "Errors", "Rate limit" and
"Idempotency keys" pages): ``POST {base_url}/emails`` with ``Authorization: Bearer
re_...``, a JSON body ``{"from", "to": [...], "subject", "html", "text", "headers",
"tags": [{"name", "value"}]}`` and an ``Idempotency-Key`` header (at most 256
characters; Resend answers a repeated key within 24 hours with the first response and
sends nothing). Success is ``200 {"id": "..."}``; an error is ``{"statusCode", "name",
"message"}`` with 4xx for the caller's fault and 429/5xx for load or outage, 429 with a
``retry-after`` header in seconds.
"""

from __future__ import annotations

import hashlib
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
from tidings.providers.email import (
    check_sender,
    extra_headers,
    require_content,
    unsubscribe_headers,
)
from tidings.providers.limits import per_second

DEFAULT_RATE = 5.0
"""Requests per second: the per-key default the brief for this provider asks to respect.
Resend's current API reference states 2 requests/s per team for new teams; set
``rate_limit`` to what your team's Settings > Usage page shows."""

MAX_IDEMPOTENCY_KEY = 256
MAX_BATCH = 100
"""Emails per ``POST /emails/batch`` request (Resend's documented limit)."""

# Names Resend documents for 409: a concurrent request with the same key is still in
# flight (try again), versus the same key reused with another body (never succeeds).
_CONCURRENT = "concurrent_idempotent_requests"


class Resend(HttpProvider):
    """Resend email (``POST /emails``), idempotent across retries and failover.

    Args:
        api_key: ``re_...``; never shown in ``repr()``, logs or errors.
        sender: The From address, ``"MediLink <noreply@medilink.vn>"``.
        base_url: Overridable for a self-hosted gateway or a test server.
        webhook_secret: ``whsec_...`` verifying ``POST /webhooks/resend``.
        rate_limit: Requests per second this key may make (None: unlimited).
        unsubscribe_url: Template for ``List-Unsubscribe`` of non-critical types, with
            ``{to}``, ``{type}`` and ``{delivery_id}`` placeholders.
        timeout: Seconds to wait for Resend's answer.
        max_attempts: Sends tried before the delivery fails over to the next provider.
    """

    name: ClassVar[str] = "resend"
    channels: ClassVar[frozenset[Channel]] = frozenset({Channel.EMAIL})
    batch_is_one_request = True

    def __init__(
        self,
        api_key: str,
        sender: str,
        base_url: str = "https://api.resend.com",
        webhook_secret: str | None = None,
        *,
        rate_limit: float | None = DEFAULT_RATE,
        unsubscribe_url: str | None = None,
        timeout: float = 15.0,
        max_attempts: int = 5,
    ) -> None:
        if not api_key:
            raise ValidationError("Resend api_key is empty (set it from $RESEND_API_KEY)")
        self._api_key = api_key
        self.sender = check_sender(sender, "Resend")
        self.base_url = base_url.rstrip("/")
        self._webhook_secret = webhook_secret
        self.rate_limit = per_second("resend", api_key, rate_limit)
        self.unsubscribe_url = unsubscribe_url
        self.timeout = timeout
        self.max_attempts = max_attempts

    @property
    def webhook_secret(self) -> str | None:
        """The Svix ``whsec_`` secret of this account's webhook endpoint."""
        return self._webhook_secret

    def __repr__(self) -> str:
        return (
            f"Resend(sender={self.sender!r}, base_url={self.base_url!r}, "
            f"api_key={'[set]' if self._api_key else None}, "
            f"webhook_secret={'[set]' if self._webhook_secret else None})"
        )

    def _secrets(self) -> tuple[str | None, ...]:
        return (self._api_key, self._webhook_secret)

    def _client_options(self) -> dict[str, Any]:
        return {"headers": {"Authorization": f"Bearer {self._api_key}"}}

    def body(self, message: Message) -> dict[str, Any]:
        """The JSON sent for ``message``."""
        require_content(message, "resend")
        headers = {**extra_headers(message), **unsubscribe_headers(message, self.unsubscribe_url)}
        body: dict[str, Any] = {
            "from": self.sender,
            "to": [message.to],
            "subject": message.subject,
            "tags": [{"name": "tidings_type", "value": _tag(message.type_id)}],
        }
        if message.html:
            body["html"] = message.html
        if message.text:
            body["text"] = message.text
        if headers:
            body["headers"] = headers
        return body

    async def send(self, message: Message) -> SendResult:
        if len(message.idempotency_key) > MAX_IDEMPOTENCY_KEY:
            raise PermanentProviderError(
                f"resend: idempotency key of delivery {message.delivery_id} is longer than "
                f"{MAX_IDEMPOTENCY_KEY} characters",
                code="invalid_idempotency_key",
            )
        body = self.body(message)
        async with self._throttle():
            response = await self._request(
                "POST", "/emails", json=body, headers={"Idempotency-Key": message.idempotency_key}
            )
        if response.status_code in (200, 201):
            data = json_body(response)
            if isinstance(data, dict) and isinstance(data.get("id"), str):
                return SendResult(provider_message_id=data["id"])
            raise RetryableProviderError(
                f"resend: answered {response.status_code} without an email id",
                code="bad_response",
            )
        raise self._error(response)

    async def send_batch(self, messages: Sequence[Message]) -> list[SendResult | ProviderError]:
        """Send through ``POST /emails/batch``, up to 100 emails per request, each request
        with one ``Idempotency-Key`` derived from its messages' keys (a retried batch is
        the same request to Resend). Permissive validation: an email Resend refuses fails
        alone and the rest are sent. A request that fails as a whole raises."""
        outcomes: list[SendResult | ProviderError | None] = [None] * len(messages)
        valid: list[int] = []
        for i, message in enumerate(messages):
            try:
                require_content(message, "resend")
            except ProviderError as exc:
                outcomes[i] = exc
                continue
            valid.append(i)
        for start in range(0, len(valid), MAX_BATCH):
            chunk = valid[start : start + MAX_BATCH]
            for i, outcome in zip(
                chunk, await self._batch([messages[i] for i in chunk]), strict=True
            ):
                outcomes[i] = outcome
        return [o for o in outcomes if o is not None]

    async def _batch(self, chunk: list[Message]) -> list[SendResult | ProviderError]:
        key = (
            "batch-"
            + hashlib.sha256("\n".join(m.idempotency_key for m in chunk).encode()).hexdigest()
        )
        headers = {"Idempotency-Key": key, "x-batch-validation": "permissive"}
        async with self._throttle():
            response = await self._request(
                "POST", "/emails/batch", json=[self.body(m) for m in chunk], headers=headers
            )
        if response.status_code not in (200, 201):
            raise self._error(response)
        data = json_body(response)
        ids = data.get("data") if isinstance(data, dict) else None
        errors = data.get("errors") if isinstance(data, dict) else None
        failed: dict[int, str] = {}
        for e in errors if isinstance(errors, list) else []:
            if isinstance(e, dict) and isinstance(e.get("index"), int):
                failed[e["index"]] = str(e.get("message") or "refused")
        sent = [d.get("id") for d in ids if isinstance(d, dict)] if isinstance(ids, list) else []
        if len(sent) != len(chunk) - len(failed) or not all(isinstance(x, str) for x in sent):
            raise RetryableProviderError(
                f"resend: batch answered {len(sent)} ids for {len(chunk) - len(failed)} emails",
                code="bad_response",
            )
        out: list[SendResult | ProviderError] = []
        ids_left = iter(sent)
        for index, message in enumerate(chunk):
            if index in failed:
                out.append(
                    PermanentProviderError(
                        f"resend: email for delivery {message.delivery_id} refused: "
                        f"{redact(failed[index], self._secrets())}",
                        code="validation_error",
                    )
                )
            else:
                out.append(SendResult(provider_message_id=str(next(ids_left))))
        return out

    def _error(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        data = json_body(response)
        data = data if isinstance(data, dict) else {}
        name = str(data.get("name") or f"http_{status}")
        detail = redact(str(data.get("message") or response.reason_phrase), self._secrets())
        text = f"resend: {status} {name}: {detail}"
        if status == 429 or status >= 500 or name == _CONCURRENT:
            return RetryableProviderError(
                text, code=name, retry_after=retry_after(response.headers)
            )
        if status in (401, 403):
            # The key, not the message, is at fault: let the router fail over to the
            # channel's next provider rather than failing the delivery for good.
            return RetryableProviderError(
                f"{text} (check the Resend API key and the sender's domain)", code=name
            )
        return PermanentProviderError(text, code=name)


def _tag(value: str) -> str:
    """Resend tags allow ASCII letters, digits, ``_`` and ``-`` only."""
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in value)
    return cleaned[:256] or "_"
