"""Signed claims as compact JWTs (HS256, PyJWT): inbox tokens and dashboard sessions.

Signing is PyJWT's; tidings adds what a hand-rolled signer once got wrong:

- one canonical encoding only: three unpadded base64url segments whose characters
  decode and re-encode to themselves, so ``token + "=="`` or a token with other trailing
  bits in its last character is refused rather than accepted as the same token;
- the algorithm is fixed (``HS256``; ``none`` and every other ``alg`` are refused);
- time claims are checked by the caller against the engine clock, not here, so tests
  and scaled demo clocks agree with what the token says.

Every failure raises :class:`BadToken` with a short reason that never repeats the token.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

import jwt

ALGORITHM = "HS256"
_SEGMENTS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_NO_TIME_CHECKS = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
}


class BadToken(ValueError):
    """A token was refused: ``malformed`` or ``signature`` says which way."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def sign(key: bytes, claims: Mapping[str, Any]) -> str:
    """A compact JWT of ``claims`` signed with ``key`` (no ``typ`` header: shorter)."""
    return jwt.encode(dict(claims), key, algorithm=ALGORITHM, headers={"typ": None})


def verify(key: bytes, token: object) -> dict[str, Any]:
    """The claims of ``token`` if ``key`` signed it, in its one canonical encoding;
    else :class:`BadToken`. Claim types and times are the caller's to check."""
    if not isinstance(token, str) or not _SEGMENTS.fullmatch(token):
        raise BadToken("malformed", "malformed token: expected three base64url fields")
    if not all(_canonical(segment) for segment in token.split(".")):
        raise BadToken("malformed", "malformed token: not canonical base64url")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options=_NO_TIME_CHECKS,  # type: ignore[arg-type]
        )
    except jwt.InvalidSignatureError:
        raise BadToken(
            "signature", "token signature does not match (wrong secret or altered)"
        ) from None
    except (jwt.PyJWTError, ValueError, TypeError):
        raise BadToken("malformed", "malformed token: not a signed token") from None
    if not isinstance(claims, dict):
        raise BadToken("malformed", "malformed token: claims are not an object")
    return claims


def _canonical(segment: str) -> bool:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        return False
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") == segment
