"""Links a recipient follows from a message: the preference centre and one-click
unsubscribe (RFC 8058), each carrying a signed token (:mod:`tidings.notify.tokens`).

- ``{public_url}/preferences?token=...``: the preference centre of one recipient
  (purpose ``preferences``; ``app.preferences_url``, default 30 days).
- ``{public_url}/u/{token}``: opts one recipient out of one notification type by email
  (purpose ``unsubscribe``, one year: a link in an old email should keep working).
  A POST does it (what a mailbox provider's one-click button sends); a GET only shows a
  page asking to confirm, since mail scanners follow links.

``public_url`` is the base URL the world reaches the tidings server at (``public_url=``
or ``$TIDINGS_PUBLIC_URL``). Without it there is nowhere to point an email at: templates
get empty ``unsubscribe_url`` / ``preferences_url`` and emails carry no
``List-Unsubscribe`` header.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import quote, urlsplit

from tidings.errors import ConfigError, ValidationError
from tidings.kernel import Kernel
from tidings.notify.tokens import InvalidTokenError, sign_token, verify_token

PREFERENCES_PURPOSE = "preferences"
UNSUBSCRIBE_PURPOSE = "unsubscribe"
PREFERENCES_TTL = timedelta(days=30)
UNSUBSCRIBE_TTL = timedelta(days=365)


def check_public_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise ConfigError(
            f"public_url must be an http(s) base URL like https://tidings.example.com, "
            f"got {value!r}"
        )
    return value.rstrip("/")


class RecipientLinks:
    """Signs and checks the links of one app (see the module doc)."""

    def __init__(self, kernel: Kernel, secret: Callable[[], bytes], public_url: str | None) -> None:
        self._kernel = kernel
        self._secret_of = secret
        self._secret: bytes | None = None
        self.public_url = check_public_url(public_url)

    def secret(self) -> bytes:
        # The secret never changes while the process runs (rotating it means a restart),
        # and sends read it on the event loop: once from the store is enough.
        if self._secret is None:
            self._secret = self._secret_of()
        return self._secret

    def _sign(self, subject: str, purpose: str, ttl: timedelta) -> str:
        return sign_token(
            self.secret(),
            environment=self._kernel.environment,
            subject=subject,
            ttl=ttl,
            now=self._kernel.clock.now(),
            purpose=purpose,
        )

    def _verify(self, token: str, purpose: str) -> str:
        return verify_token(
            self.secret(),
            token,
            environment=self._kernel.environment,
            now=self._kernel.clock.now(),
            purpose=purpose,
        )

    # -- the preference centre ----------------------------------------------------------
    def preferences_token(self, recipient_id: str, ttl: timedelta = PREFERENCES_TTL) -> str:
        return self._sign(recipient_id, PREFERENCES_PURPOSE, ttl)

    def verify_preferences_token(self, token: str) -> str:
        """The recipient id; InvalidTokenError if expired, altered or not one of these."""
        return self._verify(token, PREFERENCES_PURPOSE)

    def preferences_url(self, recipient_id: str, ttl: timedelta = PREFERENCES_TTL) -> str:
        """Absolute with a public URL, else the path (``/preferences?token=...``)."""
        return (
            f"{self.public_url or ''}/preferences?token={self.preferences_token(recipient_id, ttl)}"
        )

    # -- one-click unsubscribe ---------------------------------------------------------
    def unsubscribe_token(self, recipient_id: str, type_id: str) -> str:
        # type ids hold no ':' (letters, digits, '-', '_', '.'), so the first one splits
        return self._sign(f"{type_id}:{recipient_id}", UNSUBSCRIBE_PURPOSE, UNSUBSCRIBE_TTL)

    def verify_unsubscribe_token(self, token: str) -> tuple[str, str]:
        """``(recipient id, type id)``; InvalidTokenError if it is not a valid one."""
        subject = self._verify(token, UNSUBSCRIBE_PURPOSE)
        type_id, sep, recipient_id = subject.partition(":")
        if not sep or not type_id or not recipient_id:
            raise InvalidTokenError("malformed token: not an unsubscribe link")
        return recipient_id, type_id

    def unsubscribe_url(self, recipient_id: str, type_id: str) -> str | None:
        """The one-click URL, or None without a public URL."""
        if self.public_url is None:
            return None
        return f"{self.public_url}/u/{quote(self.unsubscribe_token(recipient_id, type_id))}"

    # -- what messages get -------------------------------------------------------------
    def template_links(self, recipient_id: str, type_id: str, critical: bool) -> dict[str, str]:
        """``unsubscribe_url`` and ``preferences_url`` for templates: empty without a
        public URL, and no unsubscribe link for a critical type."""
        if self.public_url is None:
            return {"unsubscribe_url": "", "preferences_url": ""}
        unsubscribe = "" if critical else (self.unsubscribe_url(recipient_id, type_id) or "")
        return {
            "unsubscribe_url": unsubscribe,
            "preferences_url": self.preferences_url(recipient_id),
        }

    def email_headers(self, recipient_id: str, type_id: str, critical: bool) -> dict[str, str]:
        """``List-Unsubscribe`` for a non-critical email (the providers add
        ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` to an https URL)."""
        if critical:
            return {}
        url = self.unsubscribe_url(recipient_id, type_id)
        return {} if url is None else {"List-Unsubscribe": f"<{url}>"}


def check_ttl(ttl: object) -> timedelta:
    if not isinstance(ttl, timedelta) or ttl < timedelta(seconds=1):
        raise ValidationError(f"ttl must be a timedelta of at least one second, got {ttl!r}")
    return ttl
