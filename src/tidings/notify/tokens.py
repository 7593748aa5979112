"""Signed, expiring tokens that name one subject in one environment (inbox tokens).

A token is a compact JWT (HS256, signed with PyJWT through :mod:`tidings.signing`),
short enough for a query string or a header:

- its claims are ``{"env": ..., "exp": ..., "iat": ..., "sub": ...}`` with ``exp``/``iat``
  in whole Unix seconds;
- its key is derived from the environment's signing secret and the token's *purpose*
  (so an inbox token can never be replayed as, say, a dashboard session token signed
  with the same secret).

:func:`verify_token` checks the signature first (PyJWT, in constant time) and accepts
one canonical encoding only (no padding, no alternative trailing bits); only then does
it trust the claims: the environment must match and the token must not have expired
by the engine clock. Every failure raises :class:`InvalidTokenError` with a short
reason and never echoes the token back.

Tokens are stateless: there is no revocation list. To *refresh* a token, verify it and
sign a new one for the same subject (``sign_token`` again); to revoke every token of an
environment at once, rotate its secret.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from datetime import datetime, timedelta
from typing import Any

from tidings import signing
from tidings.errors import TidingsError, ValidationError

DEFAULT_PURPOSE = "inbox"


class InvalidTokenError(TidingsError, ValueError):
    """A token was rejected: malformed, bad signature, other environment or expired."""


def _key(secret: bytes, purpose: str) -> bytes:
    if not isinstance(secret, bytes) or not secret:
        raise ValidationError("the token signing secret must be non-empty bytes")
    return hmac.new(secret, f"tidings/token/v1/{purpose}".encode(), hashlib.sha256).digest()


def _aware(name: str, value: datetime) -> float:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value.timestamp()


def _text(name: str, value: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{name} must be a non-empty string, got {value!r}")
    return value


def sign_token(
    secret: bytes,
    *,
    environment: str,
    subject: str,
    ttl: timedelta,
    now: datetime,
    purpose: str = DEFAULT_PURPOSE,
) -> str:
    """Sign a token for ``subject`` that expires ``ttl`` after ``now``.

    Args:
        secret: The environment's signing secret.
        environment: The environment the token is valid in (another one rejects it).
        subject: What the token grants access to, e.g. a recipient id.
        ttl: Lifetime, at least one second (expiry is kept in whole seconds).
        now: The current time, timezone-aware (the engine clock).
        purpose: Keeps tokens for different uses apart; verify with the same purpose.

    Raises:
        ValidationError: An argument is empty, naive or out of range.
    """
    key = _key(secret, _text("purpose", purpose))
    issued = math.floor(_aware("now", now))
    if not isinstance(ttl, timedelta) or ttl < timedelta(seconds=1):
        raise ValidationError(f"token ttl must be at least one second, got {ttl!r}")
    claims = {
        "env": _text("environment", environment),
        "exp": issued + math.floor(ttl.total_seconds()),
        "iat": issued,
        "sub": _text("subject", subject),
    }
    return signing.sign(key, claims)


def _claims(claims: dict[str, Any]) -> dict[str, Any]:
    well_typed = (
        isinstance(claims.get("env"), str)
        and isinstance(claims.get("sub"), str)
        and claims["sub"] != ""
        and all(type(claims.get(k)) is int for k in ("exp", "iat"))
    )
    if not well_typed:
        raise InvalidTokenError("malformed token: missing or mistyped claims")
    return claims


def verify_token(
    secret: bytes,
    token: str,
    *,
    environment: str,
    now: datetime,
    purpose: str = DEFAULT_PURPOSE,
) -> str:
    """Check a token made by :func:`sign_token` and return its subject.

    Args:
        secret: The environment's signing secret.
        token: The token as received.
        environment: The environment verifying it; a token of another one is rejected.
        now: The current time, timezone-aware (the engine clock).
        purpose: The purpose the token was signed for.

    Raises:
        InvalidTokenError: Malformed, bad signature, other environment, or expired.
        ValidationError: ``now`` is naive or an argument is empty.
    """
    key = _key(secret, _text("purpose", purpose))
    at = _aware("now", now)
    _text("environment", environment)
    try:
        claims = _claims(signing.verify(key, token.strip() if isinstance(token, str) else token))
    except signing.BadToken as exc:
        raise InvalidTokenError(str(exc)) from None
    if claims["env"] != environment:
        raise InvalidTokenError(
            f"token was issued for environment {claims['env']!r}, not {environment!r}"
        )
    if at >= claims["exp"]:
        raise InvalidTokenError("token has expired; ask for a new one")
    subject: str = claims["sub"]
    return subject
