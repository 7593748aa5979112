"""Dashboard sign-in: scrypt password hashes, signed session cookies, CSRF tokens.

A session cookie holds ``base64(json).signature`` where the signature is an HMAC-SHA256
over the JSON with a key derived from the environment's secret, so any process sharing
that secret accepts it and no other environment does. The CSRF token of a session is
another HMAC of its random id: forms carry it, and every POST must present it.

Make a password hash with ``python -m tidings.dashboard.auth`` (it asks for the password)
and put the printed line in ``$TIDINGS_DASHBOARD_PASSWORD_HASH``.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import json
import os
import secrets
import sys
import time
from dataclasses import dataclass

from tidings.errors import ConfigError

SESSION_COOKIE = "tidings_session"
LOGIN_COOKIE = "tidings_login"
SESSION_SECONDS = 12 * 3600
_N, _R, _P = 2**14, 8, 1  # scrypt cost: about 16 MiB and tens of milliseconds per check


def hash_password(password: str, *, n: int = _N, r: int = _R, p: int = _P) -> str:
    """``scrypt$n$r$p$salt$hash`` (salt and hash base64) for ``password``."""
    if not password:
        raise ConfigError("the dashboard password must not be empty")
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def check_hash(stored: str) -> str:
    """``stored`` if it is a hash this module made, else ConfigError naming the problem."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt" or not all(x.isdigit() for x in parts[1:4]):
        raise ConfigError(
            "TIDINGS_DASHBOARD_PASSWORD_HASH is not a scrypt hash: make one with "
            "`python -m tidings.dashboard.auth`"
        )
    return stored


def verify_password(password: str, stored: str) -> bool:
    _, n, r, p, salt, expected = check_hash(stored).split("$")
    digest = hashlib.scrypt(
        password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(digest, _unb64(expected))


@dataclass(frozen=True)
class Session:
    sid: str
    who: str
    """How the user signed in: ``password`` or ``key:<key prefix>``."""
    expires: int


class Signer:
    """Signs and checks session cookies and CSRF tokens with one environment's secret."""

    def __init__(self, secret: str, environment: str) -> None:
        if not secret:
            raise ConfigError("the dashboard needs a secret key to sign sessions")
        self._key = hashlib.sha256(f"tidings-dashboard:{environment}:{secret}".encode()).digest()

    def _sign(self, data: bytes) -> str:
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()

    def new_session(self, who: str, now: float | None = None) -> tuple[Session, str]:
        expires = int((now or time.time()) + SESSION_SECONDS)
        session = Session(secrets.token_urlsafe(18), who, expires)
        body = json.dumps({"sid": session.sid, "who": who, "exp": expires}).encode()
        return session, f"{_b64(body)}.{self._sign(body)}"

    def read_session(self, cookie: str | None, now: float | None = None) -> Session | None:
        if not cookie or "." not in cookie:
            return None
        encoded, signature = cookie.rsplit(".", 1)
        try:
            body = _unb64(encoded)
        except ValueError:
            return None
        if not hmac.compare_digest(self._sign(body), signature):
            return None
        try:
            data = json.loads(body)
            session = Session(str(data["sid"]), str(data["who"]), int(data["exp"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > (now or time.time()) else None

    def csrf_token(self, session: Session) -> str:
        return self._sign(f"csrf:{session.sid}".encode())

    def check_csrf(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session), str(token))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError("bad base64") from exc


def main() -> None:
    """Print a hash for TIDINGS_DASHBOARD_PASSWORD_HASH (password read without echo)."""
    password = sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else ""
    if not password:
        password = getpass.getpass("Dashboard password: ")
        if getpass.getpass("Again: ") != password:
            sys.exit("error: the passwords differ")
    try:
        print(hash_password(password))
    except ConfigError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
