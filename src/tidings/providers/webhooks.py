"""Verifying and reading the providers' delivery webhooks, as pure functions.

The HTTP endpoints (``POST /webhooks/resend``, ``POST /webhooks/twilio``) call these and
then move the delivery; nothing here touches the store or the network. A bad or missing
signature raises :class:`WebhookSignatureError` (answer 401, change nothing); a body that
verifies but cannot be read raises :class:`WebhookPayloadError` (answer 400); an event
that is not about a delivery (``contact.created``...) parses to None (answer 200, log it).

Each :class:`DeliveryUpdate` carries an ``event_id`` that is the same when the provider
sends the same event again (Svix's ``svix-id``; Twilio's ``I-Twilio-Idempotency-Token``),
so the endpoint can apply every event once however often it is replayed.

Signatures are computed here with :mod:`hmac` rather than the ``svix`` and ``twilio``
SDKs: each scheme is a dozen lines, and the SDKs would add two large dependencies (the
Twilio one pulls in its whole REST client and aiohttp) to check one HMAC each.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from tidings.errors import TidingsError, ValidationError
from tidings.limits import check_json

UpdateStatus = Literal[
    "queued", "sent", "delivered", "delayed", "bounced", "complained", "failed", "opened",
    "clicked", "read",
]  # fmt: skip
"""What an event says happened; the router maps it onto the delivery's status."""

SVIX_TOLERANCE = timedelta(minutes=5)


class WebhookSignatureError(TidingsError):
    """The webhook's signature is missing, wrong or too old: reject it (401)."""


class WebhookPayloadError(ValidationError):
    """The webhook verified but its body is not the documented shape (400)."""


@dataclass(frozen=True)
class DeliveryUpdate:
    """One provider event about one sent message, in neutral terms."""

    provider: str
    """``"resend"`` or ``"twilio"``."""
    provider_message_id: str
    """The id the provider returned on send (Resend email id, Twilio ``SM...`` sid)."""
    status: UpdateStatus
    event: str
    """The provider's own event name (``email.bounced``, ``undelivered``)."""
    error: str | None = None
    """What went wrong, for bounces and failures."""
    suppress_address: bool = False
    """A hard bounce, a complaint or an opt-out: never send to :attr:`address` again."""
    address: str | None = None
    """The recipient the event is about."""
    event_id: str | None = None
    """The same for every replay of this event; apply each event id once."""
    occurred_at: datetime | None = None


# Svix (Resend) -------------------------------------------------------------------------


def verify_svix(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime | None = None,
    tolerance: timedelta = SVIX_TOLERANCE,
) -> str:
    """Check a Svix-signed webhook; return its ``svix-id``.

    Follows Svix's "Verifying webhooks manually": the signed content is
    ``"{svix-id}.{svix-timestamp}.{raw body}"``, signed with HMAC-SHA256 under the
    base64-decoded part of the ``whsec_...`` secret; ``svix-signature`` holds one or more
    space-separated ``v1,<base64>`` signatures (several during a secret rotation), any of
    which may match; a timestamp more than ``tolerance`` from now is rejected so a
    captured request cannot be replayed later. The ``webhook-*`` header names are
    accepted too.

    Raises:
        WebhookSignatureError: a header is missing, no signature matches, or the
            timestamp is outside the tolerance.
    """
    key = _svix_key(secret)
    msg_id = _header(headers, "svix-id", "webhook-id")
    stamp = _header(headers, "svix-timestamp", "webhook-timestamp")
    signatures = _header(headers, "svix-signature", "webhook-signature")
    if not (msg_id and stamp and signatures):
        raise WebhookSignatureError("missing svix-id, svix-timestamp or svix-signature header")
    try:
        sent = datetime.fromtimestamp(int(stamp), UTC)
    except (ValueError, OverflowError, OSError):
        raise WebhookSignatureError(f"svix-timestamp {stamp!r} is not a Unix time") from None
    current = now or datetime.now(UTC)
    if abs(current - sent) > tolerance:
        what = "too old" if sent < current else "in the future"
        raise WebhookSignatureError(
            f"svix-timestamp is {what}: {abs(current - sent).total_seconds():.0f}s from now, "
            f"tolerance {tolerance.total_seconds():.0f}s"
        )
    signed = msg_id.encode() + b"." + stamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    for entry in signatures.split():
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return msg_id
    raise WebhookSignatureError("no svix-signature matches the body and secret")


def svix_sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``svix-signature`` value Svix would send (for tests and local tools)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_svix_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def _svix_key(secret: str) -> bytes:
    raw = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(
            "the Resend webhook_secret must be the 'whsec_...' value from Resend's webhook "
            "settings (base64 after the prefix)"
        ) from None
    if not key:
        raise ValidationError("the Resend webhook_secret is empty")
    return key


_RESEND_STATUS: dict[str, UpdateStatus] = {
    "email.sent": "sent",
    "email.delivered": "delivered",
    "email.delivery_delayed": "delayed",
    "email.bounced": "bounced",
    "email.complained": "complained",
    "email.opened": "opened",
    "email.clicked": "clicked",
    "email.failed": "failed",
    "email.scheduled": "queued",
}


def parse_resend_event(body: bytes | Mapping[str, Any]) -> DeliveryUpdate | None:
    """A Resend webhook body ``{"type", "created_at", "data": {"email_id", "to"...}}``.

    Follows Resend's "Event types" and "Body parameters" pages. ``email.bounced`` is a
    permanent rejection unless ``data.bounce.type`` says ``Transient``; a hard bounce and
    a complaint suppress the address. Events that are not about an email (``contact.*``,
    ``domain.*``) give None.

    Raises:
        WebhookPayloadError: the body is not JSON or lacks ``type`` / ``data.email_id``.
    """
    event = _json_object(body, "Resend")
    kind = event.get("type")
    if not isinstance(kind, str):
        raise WebhookPayloadError("Resend webhook body has no 'type'")
    status = _RESEND_STATUS.get(kind)
    if status is None:
        return None
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("email_id"), str):
        raise WebhookPayloadError(f"Resend {kind} webhook has no data.email_id")
    error, suppress = _resend_problem(kind, data)
    to = data.get("to")
    address = to[0] if isinstance(to, list) and to and isinstance(to[0], str) else None
    return DeliveryUpdate(
        provider="resend",
        provider_message_id=data["email_id"],
        status=status,
        event=kind,
        error=error,
        suppress_address=suppress,
        address=address,
        occurred_at=_iso(event.get("created_at")),
    )


def _resend_problem(kind: str, data: Mapping[str, Any]) -> tuple[str | None, bool]:
    if kind == "email.bounced":
        bounce = data.get("bounce") if isinstance(data.get("bounce"), dict) else {}
        assert isinstance(bounce, dict)
        kind_of = str(bounce.get("type") or "Permanent")
        detail = bounce.get("message") or "bounced"
        sub = f"/{bounce['subType']}" if bounce.get("subType") else ""
        return f"{kind_of}{sub} bounce: {detail}", kind_of.lower() != "transient"
    if kind == "email.complained":
        return "the recipient marked the email as spam", True
    if kind == "email.failed":
        failed = data.get("failed") if isinstance(data.get("failed"), dict) else {}
        assert isinstance(failed, dict)
        return str(failed.get("reason") or "failed"), False
    return None, False


def resend_webhook(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: datetime | None = None
) -> DeliveryUpdate | None:
    """Verify (Svix) then parse a ``POST /webhooks/resend``; ``event_id`` is ``svix-id``."""
    msg_id = verify_svix(secret, headers, body, now=now)
    update = parse_resend_event(body)
    if update is None:
        return None
    return _with_event_id(update, msg_id)


# Twilio --------------------------------------------------------------------------------

Params = Mapping[str, str | Sequence[str]] | Sequence[tuple[str, str]]
"""Form parameters: a mapping (a list value for a repeated name) or ``(name, value)``
pairs as they arrived."""


def twilio_signature(auth_token: str, url: str, params: Params) -> str:
    """The ``X-Twilio-Signature`` Twilio sends for a form POST to ``url``.

    Follows Twilio's "Webhooks security": the full URL Twilio requested (with its query
    string), then every POST parameter sorted by name, each name immediately followed by
    its value, all HMAC-SHA1'd with the account's auth token, base64-encoded.
    """
    content = url + "".join(name + value for name, value in _sorted_pairs(params))
    digest = hmac.new(auth_token.encode(), content.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_twilio(auth_token: str, url: str, params: Params, signature: str | None) -> None:
    """Check ``X-Twilio-Signature``; the URL with and without its default port both count
    (Twilio signs the URL as configured, a proxy may add or drop ``:443``).

    Raises:
        WebhookSignatureError: the signature is missing or matches no form of the URL.
    """
    if not signature:
        raise WebhookSignatureError("missing X-Twilio-Signature header")
    for candidate in _url_variants(url):
        expected = twilio_signature(auth_token, candidate, params)
        if hmac.compare_digest(expected.encode(), signature.encode()):
            return
    raise WebhookSignatureError("X-Twilio-Signature does not match the URL, body and token")


_TWILIO_STATUS: dict[str, UpdateStatus] = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
    "read": "read",
}
UNSUBSCRIBED = "21610"


def parse_twilio_status(params: Params) -> DeliveryUpdate | None:
    """A Twilio message status callback (``MessageSid``, ``MessageStatus``, ``ErrorCode``).

    Follows Twilio's "Outbound message status in status callbacks": ``queued``,
    ``sent``, ``delivered``, ``undelivered`` and ``failed`` (plus ``accepted``,
    ``scheduled``, ``sending``, ``read``, ``canceled``). Error 21610 (the recipient
    replied STOP) suppresses the number.

    Raises:
        WebhookPayloadError: ``MessageSid`` or ``MessageStatus`` is missing.
    """
    form = dict(_sorted_pairs(params))
    sid = form.get("MessageSid") or form.get("SmsSid")
    raw_status = form.get("MessageStatus") or form.get("SmsStatus")
    if not sid or not raw_status:
        raise WebhookPayloadError("Twilio status callback has no MessageSid or MessageStatus")
    status = _TWILIO_STATUS.get(raw_status)
    if status is None:
        return None
    code = form.get("ErrorCode") or None
    error = None
    if code or status == "failed":
        error = f"Twilio {raw_status}" + (f": error {code}" if code else "")
        if form.get("ErrorMessage"):
            error += f" ({form['ErrorMessage']})"
    return DeliveryUpdate(
        provider="twilio",
        provider_message_id=sid,
        status=status,
        event=raw_status,
        error=error,
        suppress_address=code == UNSUBSCRIBED,
        address=form.get("To") or None,
        event_id=f"{sid}:{raw_status}",
    )


def twilio_webhook(
    auth_token: str, url: str, headers: Mapping[str, str], params: Params
) -> DeliveryUpdate | None:
    """Verify then parse a ``POST /webhooks/twilio``; ``event_id`` is Twilio's
    ``I-Twilio-Idempotency-Token`` when sent, else ``"{MessageSid}:{MessageStatus}"``."""
    verify_twilio(auth_token, url, params, _header(headers, "x-twilio-signature"))
    update = parse_twilio_status(params)
    token = _header(headers, "i-twilio-idempotency-token")
    if update is None or not token:
        return update
    return _with_event_id(update, token)


# Helpers -------------------------------------------------------------------------------


def _header(headers: Mapping[str, str], *names: str) -> str | None:
    lowered = {k.lower(): v for k, v in headers.items()}
    return next((lowered[n] for n in names if lowered.get(n)), None)


def _sorted_pairs(params: Params) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    if isinstance(params, Mapping):
        for name, value in params.items():
            values = [value] if isinstance(value, str) else list(value)
            pairs.extend((name, v) for v in values)
    else:
        pairs = list(params)
    # Twilio signs each distinct (name, value) once, sorted by name then value.
    return sorted(set(pairs))


def _url_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    variants = [url]
    if default is not None and parts.port is None:
        variants.append(urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}")))
    elif parts.port == default:
        netloc = parts.netloc.rsplit(":", 1)[0] if host else parts.netloc
        variants.append(urlunsplit(parts._replace(netloc=netloc)))
    return variants


def _json_object(body: bytes | Mapping[str, Any], provider: str) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    try:
        event = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise WebhookPayloadError(f"{provider} webhook body is not JSON") from None
    except RecursionError:  # signed, but nested past what the parser can follow
        raise WebhookPayloadError(f"{provider} webhook body nests too deeply") from None
    if not isinstance(event, dict):
        raise WebhookPayloadError(f"{provider} webhook body is not a JSON object")
    try:
        check_json(event, f"{provider} webhook body")
    except ValidationError as exc:
        raise WebhookPayloadError(str(exc)) from None
    return event


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _with_event_id(update: DeliveryUpdate, event_id: str) -> DeliveryUpdate:
    from dataclasses import replace

    return replace(update, event_id=event_id)
