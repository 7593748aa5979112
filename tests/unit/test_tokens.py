"""Signed inbox tokens: round trip, and every way a token must be rejected."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta, timezone

import jwt
import pytest

from tidings.errors import TidingsError, ValidationError
from tidings.notify.tokens import InvalidTokenError, sign_token, verify_token

SECRET = b"s3cret-signing-key-for-tests-0123456789"
NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def sign(subject: str = "u1", env: str = "dev", ttl: timedelta = HOUR, **kw: object) -> str:
    return sign_token(SECRET, environment=env, subject=subject, ttl=ttl, now=NOW, **kw)  # type: ignore[arg-type]


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_round_trip_returns_the_subject() -> None:
    token = sign("patient-42")
    assert verify_token(SECRET, token, environment="dev", now=NOW) == "patient-42"
    assert verify_token(SECRET, token, environment="dev", now=NOW + HOUR - timedelta(seconds=1))


def test_token_is_compact_and_url_safe() -> None:
    token = sign("u1")
    assert len(token) < 180
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    header, body, signature = token.split(".")
    assert json.loads(unb64(header)) == {"alg": "HS256"}
    claims = json.loads(unb64(body))
    assert claims == {
        "env": "dev",
        "sub": "u1",
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + HOUR).timestamp()),
    }
    assert len(unb64(signature)) == 32  # SHA-256


def test_unicode_subject_round_trips() -> None:
    token = sign("bệnh-nhân/7")
    assert verify_token(SECRET, token, environment="dev", now=NOW) == "bệnh-nhân/7"


def test_expired_at_exactly_exp() -> None:
    token = sign()
    with pytest.raises(InvalidTokenError, match="expired"):
        verify_token(SECRET, token, environment="dev", now=NOW + HOUR)


def test_other_environment_is_rejected() -> None:
    token = sign(env="staging")
    with pytest.raises(InvalidTokenError, match="environment 'staging', not 'production'"):
        verify_token(SECRET, token, environment="production", now=NOW)


def test_other_secret_is_rejected() -> None:
    with pytest.raises(InvalidTokenError, match="signature"):
        verify_token(b"another secret", sign(), environment="dev", now=NOW)


def test_other_purpose_is_rejected() -> None:
    token = sign(purpose="dashboard")
    with pytest.raises(InvalidTokenError, match="signature"):
        verify_token(SECRET, token, environment="dev", now=NOW)
    assert verify_token(SECRET, token, environment="dev", now=NOW, purpose="dashboard") == "u1"


def test_altered_claims_are_rejected() -> None:
    header, body, signature = sign("u1").split(".")
    claims = json.loads(unb64(body))
    claims["sub"] = "u2"
    forged = b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    with pytest.raises(InvalidTokenError, match="signature"):
        verify_token(SECRET, f"{header}.{forged}.{signature}", environment="dev", now=NOW)
    claims["sub"], claims["exp"] = "u1", claims["exp"] + 86400
    extended = b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    with pytest.raises(InvalidTokenError, match="signature"):
        verify_token(SECRET, f"{header}.{extended}.{signature}", environment="dev", now=NOW)


def test_altered_signature_is_rejected() -> None:
    header, body, signature = sign().split(".")
    flipped = bytearray(unb64(signature))
    flipped[0] ^= 1
    with pytest.raises(InvalidTokenError, match="signature"):
        verify_token(SECRET, f"{header}.{body}.{b64(bytes(flipped))}", environment="dev", now=NOW)


def test_only_the_canonical_encoding_is_accepted() -> None:
    """Issue 22, finding 8: ``token + "=="`` and other spellings of the same bytes fail."""
    token = sign()
    header, body, signature = token.split(".")
    last = signature[-1]
    # A SHA-256 signature is 32 bytes: 43 characters whose last carries 2 unused bits.
    sibling = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(last) ^ 1
    other_bits = (
        signature[:-1] + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[sibling]
    )
    assert unb64(other_bits) == unb64(signature)
    for variant in (token + "==", token + "=", f"{header}.{body}.{other_bits}", token + "."):
        with pytest.raises(InvalidTokenError, match="malformed"):
            verify_token(SECRET, variant, environment="dev", now=NOW)


def test_unsigned_and_other_algorithm_tokens_are_refused() -> None:
    claims = {"env": "dev", "sub": "u1", "iat": 1, "exp": 9999999999}
    unsigned = b64(b'{"alg":"none"}') + "." + b64(json.dumps(claims).encode()) + ".c2ln"
    key = hmac.new(SECRET, b"tidings/token/v1/inbox", hashlib.sha256).digest()
    hs512 = jwt.encode(claims, key * 2, algorithm="HS512")
    for token in (unsigned, hs512):
        with pytest.raises(InvalidTokenError):
            verify_token(SECRET, token, environment="dev", now=NOW)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b.c",
        ".",
        "abc.",
        ".abc",
        "ünïcode.x",
        "%%%.%%%",
        "x" * 5 + "." + "y" * 3,
        "a.b",
        "ab.\u00e9.cd",
        "a.b.c.d",
        "\ud800.a.b",
    ],
)
def test_malformed_tokens_are_rejected(token: str) -> None:
    with pytest.raises(InvalidTokenError):
        verify_token(SECRET, token, environment="dev", now=NOW)


def _signed(claims: object) -> str:
    """A token with a valid signature over arbitrary claims (as a key holder could make)."""
    key = hmac.new(SECRET, b"tidings/token/v1/inbox", hashlib.sha256).digest()
    header = b64(b'{"alg":"HS256"}')
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(key, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64(signature)}"


@pytest.mark.parametrize(
    "claims",
    [
        [1, 2],
        {"env": "dev", "sub": "u1", "iat": 1},
        {"env": "dev", "sub": "", "iat": 1, "exp": 9999999999},
        {"env": "dev", "sub": 7, "iat": 1, "exp": 9999999999},
        {"env": "dev", "sub": "u1", "iat": 1, "exp": "9999999999"},
        {"env": "dev", "sub": "u1", "iat": 1, "exp": True},
    ],
)
def test_well_signed_but_malformed_claims_are_rejected(claims: object) -> None:
    with pytest.raises(InvalidTokenError, match="malformed"):
        verify_token(SECRET, _signed(claims), environment="dev", now=NOW)


def test_the_reference_signature_matches_the_format() -> None:
    """Pins the wire format: a token made by hand per the docstring verifies."""
    exp = int((NOW + HOUR).timestamp())
    token = _signed({"env": "dev", "exp": exp, "iat": int(NOW.timestamp()), "sub": "u9"})
    assert verify_token(SECRET, token, environment="dev", now=NOW) == "u9"


def test_naive_datetimes_are_validation_errors() -> None:
    naive = datetime(2026, 11, 22, 15, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValidationError, match="timezone-aware"):
        sign_token(SECRET, environment="dev", subject="u1", ttl=HOUR, now=naive)
    with pytest.raises(ValidationError, match="timezone-aware"):
        verify_token(SECRET, sign(), environment="dev", now=naive)


def test_other_timezones_are_the_same_instant() -> None:
    token = sign()
    plus7 = NOW.astimezone(timezone(timedelta(hours=7)))
    assert verify_token(SECRET, token, environment="dev", now=plus7) == "u1"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ttl": timedelta(0)}, "ttl"),
        ({"ttl": timedelta(seconds=-5)}, "ttl"),
        ({"ttl": timedelta(milliseconds=500)}, "ttl"),
        ({"subject": ""}, "subject"),
        ({"env": ""}, "environment"),
        ({"purpose": ""}, "purpose"),
    ],
)
def test_bad_sign_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        sign(**kwargs)  # type: ignore[arg-type]


def test_empty_secret_is_rejected() -> None:
    with pytest.raises(ValidationError, match="secret"):
        sign_token(b"", environment="dev", subject="u1", ttl=HOUR, now=NOW)
    with pytest.raises(ValidationError, match="secret"):
        verify_token(b"", sign(), environment="dev", now=NOW)


def test_error_hierarchy() -> None:
    assert issubclass(InvalidTokenError, TidingsError)
    assert issubclass(InvalidTokenError, ValueError)
    assert not issubclass(InvalidTokenError, ValidationError)


def test_refresh_is_signing_again() -> None:
    old = sign("u1")
    later = NOW + timedelta(minutes=50)
    subject = verify_token(SECRET, old, environment="dev", now=later)
    new = sign_token(SECRET, environment="dev", subject=subject, ttl=HOUR, now=later)
    assert verify_token(SECRET, new, environment="dev", now=NOW + timedelta(minutes=100)) == "u1"
    with pytest.raises(InvalidTokenError, match="expired"):
        verify_token(SECRET, old, environment="dev", now=NOW + timedelta(minutes=100))


def test_error_messages_never_echo_the_token() -> None:
    token = sign()
    with pytest.raises(InvalidTokenError) as info:
        verify_token(SECRET, token, environment="prod", now=NOW)
    assert token not in str(info.value)
    assert token.split(".")[1] not in str(info.value)
