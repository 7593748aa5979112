"""What the email providers share: addresses, unsubscribe headers, a stable Message-ID."""

from __future__ import annotations

import email.utils
import hashlib
from collections.abc import Mapping

from tidings.errors import ValidationError
from tidings.providers.base import Message, PermanentProviderError

UNSUBSCRIBE = "List-Unsubscribe"
UNSUBSCRIBE_POST = "List-Unsubscribe-Post"
ONE_CLICK = "List-Unsubscribe=One-Click"


def check_sender(sender: str, provider: str) -> str:
    """``sender`` if it is ``addr@domain`` or ``Name <addr@domain>``, else ValidationError."""
    _, addr = email.utils.parseaddr(sender)
    if not addr or "@" not in addr or addr.startswith("@") or addr.endswith("@"):
        raise ValidationError(
            f"{provider} sender must be an address like 'MediLink <noreply@medilink.vn>', "
            f"got {sender!r}"
        )
    return sender


def sender_domain(sender: str) -> str:
    return email.utils.parseaddr(sender)[1].rpartition("@")[2]


def message_id(message: Message, sender: str) -> str:
    """A Message-ID that stays the same across retries and failover of one delivery."""
    digest = hashlib.sha256(message.idempotency_key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{sender_domain(sender)}>"


def unsubscribe_headers(message: Message, url_template: str | None) -> dict[str, str]:
    """``List-Unsubscribe`` (RFC 2369) and one-click ``List-Unsubscribe-Post`` (RFC 8058).

    None for critical types: a patient must not unsubscribe from lab results. The URL comes
    from ``message.headers`` if the router set one, else from ``url_template`` with
    ``{to}``, ``{type}``, ``{delivery_id}`` filled in. One-click is offered only for an
    HTTPS URL, as RFC 8058 requires.
    """
    if message.critical:
        return {}
    given = _header(message.headers, UNSUBSCRIBE)
    if given is None and url_template:
        url = url_template.format(
            to=_quote(message.to), type=_quote(message.type_id), delivery_id=message.delivery_id
        )
        given = f"<{url}>"
    if given is None:
        return {}
    headers = {UNSUBSCRIBE: given}
    post = _header(message.headers, UNSUBSCRIBE_POST)
    if post is not None:
        headers[UNSUBSCRIBE_POST] = post
    elif "<https://" in given:
        headers[UNSUBSCRIBE_POST] = ONE_CLICK
    return headers


def extra_headers(message: Message) -> dict[str, str]:
    """The message's own headers other than the unsubscribe pair (handled above)."""
    skip = {UNSUBSCRIBE.lower(), UNSUBSCRIBE_POST.lower()}
    return {k: v for k, v in message.headers.items() if k.lower() not in skip}


def require_content(message: Message, provider: str) -> None:
    """Email needs a subject and a text or HTML body; else the delivery fails for good."""
    missing = [
        what
        for what, ok in (("subject", bool(message.subject)), ("body", message.text or message.html))
        if not ok
    ]
    if missing:
        raise PermanentProviderError(
            f"{provider}: email for delivery {message.delivery_id} has no "
            f"{' or '.join(missing)} (check the email.subject and email.txt/email.html "
            f"templates of {message.type_id!r})",
            code="invalid_message",
        )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")
