"""Push notifications through the Expo push service.

Wire format followed (Expo docs, "Send notifications with Expo's Push API": HTTP/2 API,
push tickets, push receipts, errors): ``POST {base_url}/--/api/v2/push/send`` with
``content-type: application/json``, ``accept-encoding: gzip, deflate``, an optional
``Authorization: Bearer <access token>`` (when the project enforces push security) and
a body that is one message object or an array of at most 100; the body may be
gzip-compressed (``content-encoding: gzip``). The answer is ``{"data": ...}`` holding one
ticket object for a single message or an array of tickets in request order, or
``{"errors": [{"code", "message"}]}`` with a 4xx/5xx status for a failed request
(``TOO_MANY_REQUESTS`` past 600 notifications/s per project, ``PUSH_TOO_MANY_NOTIFICATIONS``,
``PUSH_TOO_MANY_EXPERIENCE_IDS``, ``UNAUTHORIZED``). A ticket is ``{"status": "ok", "id"}``
or ``{"status": "error", "message", "details": {"error"}}``. Receipts come from ``POST
/--/api/v2/push/getReceipts`` with ``{"ids": [...]}`` (at most 1,000), answered ``{"data":
{id: {"status", "message"?, "details"?}}}``; an id without a receipt yet is left out. Expo
recommends fetching receipts about 15 minutes after sending; they are kept for 24 hours.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import httpx

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

SEND_PATH = "/--/api/v2/push/send"
RECEIPTS_PATH = "/--/api/v2/push/getReceipts"
MAX_BATCH = 100
MAX_RECEIPT_IDS = 1000
PROJECT_RATE = 600.0
"""Notifications per second per project that Expo accepts before ``TOO_MANY_REQUESTS``."""

_TOKEN = re.compile(r"^Expo(nent)?PushToken\[[^\]]+\]$")


@dataclass(frozen=True)
class Receipt:
    """The fate of one ticket once Expo handed it to APNs or FCM."""

    id: str
    status: Literal["ok", "error"]
    error: ProviderError | None = None
    """For ``error``: the same mapping as tickets (``DeviceNotRegistered`` says
    ``deactivate_token``)."""
    details: Mapping[str, Any] = field(default_factory=dict)


class Expo(HttpProvider):
    """Expo push (``POST /--/api/v2/push/send``), batched and gzip-compressed.

    Args:
        access_token: Expo access token, when the project enforces push security; never
            shown in ``repr()``, logs or errors.
        base_url: Overridable for a test server.
        sound: The iOS ``sound`` field (``"default"`` or None for silence).
        rate_limit: Notifications per second (Expo accepts 600 per project).
        timeout: Seconds to wait for Expo's answer.
        max_attempts: Sends tried before the delivery fails over to the next provider.
    """

    name: ClassVar[str] = "expo"
    channels: ClassVar[frozenset[Channel]] = frozenset({Channel.PUSH})

    def __init__(
        self,
        access_token: str | None = None,
        base_url: str = "https://exp.host",
        *,
        sound: str | None = "default",
        rate_limit: float | None = PROJECT_RATE,
        timeout: float = 15.0,
        max_attempts: int = 5,
    ) -> None:
        self._access_token = access_token or None
        self.base_url = base_url.rstrip("/")
        self.sound = sound
        self.rate_limit = per_second("expo", self._access_token, rate_limit)
        self.timeout = timeout
        self.max_attempts = max_attempts

    def __repr__(self) -> str:
        token = "[set]" if self._access_token else None
        return f"Expo(base_url={self.base_url!r}, access_token={token})"

    def _secrets(self) -> tuple[str | None, ...]:
        return (self._access_token,)

    def _client_options(self) -> dict[str, Any]:
        headers = {
            "accept": "application/json",
            "accept-encoding": "gzip, deflate",
            "content-type": "application/json",
        }
        if self._access_token:
            headers["authorization"] = f"Bearer {self._access_token}"
        return {"headers": headers}

    def payload(self, message: Message) -> dict[str, Any]:
        """The Expo message object for ``message``."""
        item: dict[str, Any] = {"to": message.to}
        if message.title:
            item["title"] = message.title
        if message.body or message.text:
            item["body"] = message.body or message.text
        if message.data:
            item["data"] = dict(message.data)
            # a question's push (ctx.ask): the app registers a notification category
            # per type whose buttons post to the action URLs carried in data.actions
            category = message.data.get("categoryId")
            if isinstance(category, str) and category:
                item["categoryId"] = category
        if self.sound:
            item["sound"] = self.sound
        return item

    async def send(self, message: Message) -> SendResult:
        if not _TOKEN.match(message.to):
            raise _bad_token(message.to)
        # One message goes as a single object; Expo then answers a single ticket object.
        async with self._throttle():
            data = await self._post(SEND_PATH, self.payload(message))
        ticket = data[0] if isinstance(data, list) and len(data) == 1 else data
        outcome = ticket_outcome(ticket)
        if isinstance(outcome, ProviderError):
            raise outcome
        return outcome

    async def send_batch(self, messages: Sequence[Message]) -> list[SendResult | ProviderError]:
        """Send in requests of at most 100; one outcome per message, in order."""
        outcomes: list[SendResult | ProviderError | None] = [None] * len(messages)
        valid: list[int] = []
        for i, message in enumerate(messages):
            if _TOKEN.match(message.to):
                valid.append(i)
            else:
                outcomes[i] = _bad_token(message.to)
        size = min(MAX_BATCH, self.rate_limit.limit) if self.rate_limit else MAX_BATCH
        for start in range(0, len(valid), size):
            chunk = valid[start : start + size]
            for i, outcome in zip(
                chunk, await self._send_chunk([messages[i] for i in chunk]), strict=False
            ):
                outcomes[i] = outcome
        return [o for o in outcomes if o is not None]

    async def _send_chunk(self, chunk: list[Message]) -> list[SendResult | ProviderError]:
        try:
            async with self._throttle(len(chunk)):
                data = await self._post(SEND_PATH, [self.payload(m) for m in chunk])
        except ProviderError as exc:
            return [exc] * len(chunk)
        tickets = data if isinstance(data, list) else [data]
        if len(tickets) != len(chunk):
            failure = RetryableProviderError(
                f"expo: {len(tickets)} tickets for {len(chunk)} messages", code="bad_response"
            )
            return [failure] * len(chunk)
        return [ticket_outcome(t) for t in tickets]

    async def get_receipts(self, ids: Sequence[str]) -> dict[str, Receipt]:
        """Receipts of the given ticket ids (those Expo has); 1,000 ids per request.

        Raises:
            ProviderError: a whole request failed (retryable for 429/5xx/timeouts).
        """
        receipts: dict[str, Receipt] = {}
        for start in range(0, len(ids), MAX_RECEIPT_IDS):
            chunk = list(ids[start : start + MAX_RECEIPT_IDS])
            data = await self._post(RECEIPTS_PATH, {"ids": chunk})
            if not isinstance(data, dict):
                raise RetryableProviderError(
                    "expo: getReceipts answered without a data object", code="bad_response"
                )
            for rid, body in data.items():
                if isinstance(body, dict):
                    receipts[rid] = _receipt(rid, body)
        return receipts

    async def _post(self, path: str, body: Any) -> Any:
        raw = json.dumps(body, separators=(",", ":")).encode("utf-8")
        response = await self._request(
            "POST", path, content=gzip.compress(raw), headers={"content-encoding": "gzip"}
        )
        data = json_body(response)
        if response.status_code == 200 and isinstance(data, dict) and "data" in data:
            return data["data"]
        raise self._request_error(response, data)

    def _request_error(self, response: httpx.Response, data: Any) -> ProviderError:
        status = response.status_code
        errors = data.get("errors") if isinstance(data, dict) else None
        first = errors[0] if isinstance(errors, list) and errors else {}
        first = first if isinstance(first, dict) else {}
        code = str(first.get("code") or f"http_{status}")
        detail = redact(str(first.get("message") or response.reason_phrase), self._secrets())
        text = f"expo: {status} {code}: {detail}"
        if status == 429 or code == "TOO_MANY_REQUESTS" or status >= 500 or status == 200:
            return RetryableProviderError(
                text, code=code, retry_after=retry_after(response.headers)
            )
        if status in (401, 403) or code == "UNAUTHORIZED":
            return RetryableProviderError(f"{text} (check the Expo access_token)", code=code)
        return PermanentProviderError(text, code=code)


def ticket_outcome(ticket: Any) -> SendResult | ProviderError:
    """One push ticket as a send outcome."""
    if not isinstance(ticket, dict):
        return RetryableProviderError("expo: a push ticket is not an object", code="bad_response")
    if ticket.get("status") == "ok" and isinstance(ticket.get("id"), str):
        return SendResult(provider_message_id=ticket["id"], details={"expo_ticket": ticket["id"]})
    return push_error(ticket)


def push_error(body: Mapping[str, Any]) -> ProviderError:
    """A ticket's or receipt's error as the matching :class:`ProviderError`."""
    details = body.get("details")
    code = str(details.get("error")) if isinstance(details, dict) and details.get("error") else ""
    code = code or "error"
    text = f"expo: {code}: {body.get('message') or 'no message'}"
    if code == "DeviceNotRegistered":
        return PermanentProviderError(text, code=code, deactivate_token=True)
    if code == "MessageRateExceeded":
        return RetryableProviderError(f"{text} (sending too often to this device)", code=code)
    # MessageTooBig (payload over 4096 bytes), InvalidCredentials, MismatchSenderId...:
    # sending the same message again cannot succeed.
    return PermanentProviderError(text, code=code)


def _receipt(rid: str, body: Mapping[str, Any]) -> Receipt:
    details = body.get("details")
    details = details if isinstance(details, dict) else {}
    if body.get("status") == "ok":
        return Receipt(id=rid, status="ok", details=details)
    return Receipt(id=rid, status="error", error=push_error(body), details=details)


def _bad_token(token: str) -> PermanentProviderError:
    shown = token if len(token) <= 60 else token[:57] + "..."
    return PermanentProviderError(
        f"expo: {shown!r} is not an Expo push token (ExponentPushToken[...])",
        code="InvalidPushToken",
        deactivate_token=True,
    )
