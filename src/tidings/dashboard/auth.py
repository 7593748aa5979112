"""Dashboard sign-in: scrypt password hashes, signed session cookies, CSRF tokens.

A session cookie is a compact JWT (HS256, PyJWT through :mod:`tidings.signing`) with a
key derived from the environment's secret, so any process sharing that secret accepts
it and no other environment does. It names the session (a random id), who signed in
and, for the password, a fingerprint of the password hash it was made with; what
else makes a session live (not signed out, its key not revoked) is
:mod:`tidings.dashboard.sessions`. The CSRF token of a session is an HMAC of its random
id: forms carry it, and every POST must present it. Every decoding of a client's
cookie or form field is total: anything malformed is "not signed in", never an error.

Make a password hash with ``python -m tidings.dashboard.auth`` (it asks for the password)
and put the printed line in ``$TIDINGS_DASHBOARD_PASSWORD_HASH``.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import os
import secrets
import sys
import time
from dataclasses import dataclass

from tidings import signing
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
        password.encode("utf-8", "replace"),
        salt=_unb64(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        dklen=32,
    )
    return hmac.compare_digest(digest, _unb64(expected))


@dataclass(frozen=True)
class Session:
    sid: str
    who: str
    """How the user signed in: ``password`` or ``key:<key id>``."""
    expires: int
    binding: str = ""
    """For ``password``: the fingerprint of the password hash it was made with."""


class Signer:
    """Signs and checks session cookies and CSRF tokens with one environment's secret."""

    def __init__(self, secret: str, environment: str) -> None:
        if not secret:
            raise ConfigError("the dashboard needs a secret key to sign sessions")
        self._key = hashlib.sha256(f"tidings-dashboard:{environment}:{secret}".encode()).digest()

    def _sign(self, data: bytes) -> str:
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()

    def fingerprint(self, credential: str) -> str:
        """A short keyed digest of ``credential`` (a password hash) to bind sessions to."""
        return self._sign(f"credential:{credential}".encode())[:32]

    def new_session(
        self, who: str, now: float | None = None, binding: str = ""
    ) -> tuple[Session, str]:
        expires = int((now or time.time()) + SESSION_SECONDS)
        session = Session(secrets.token_urlsafe(18), who, expires, binding)
        claims = {"sid": session.sid, "who": who, "exp": expires, "bnd": binding}
        return session, signing.sign(self._key, claims)

    def read_session(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session ``cookie`` names if it is well signed and unexpired, else None
        (whatever the cookie holds: bytes that are not ASCII, not a JWT, not JSON...)."""
        if not cookie:
            return None
        try:
            data = signing.verify(self._key, cookie)
        except signing.BadToken:
            return None
        sid, who, exp, bnd = (data.get(k) for k in ("sid", "who", "exp", "bnd"))
        if not (isinstance(sid, str) and isinstance(who, str) and type(exp) is int):
            return None
        session = Session(sid, who, exp, bnd if isinstance(bnd, str) else "")
        return session if session.expires > (now or time.time()) else None

    def csrf_token(self, session: Session) -> str:
        return self._sign(f"csrf:{session.sid}".encode())

    def check_csrf(self, session: Session, token: str | None) -> bool:
        """Constant-time, and total: a token with any characters at all is just wrong."""
        if not token or not isinstance(token, str):
            return False
        given = token.encode("utf-8", "replace")
        return hmac.compare_digest(self.csrf_token(session).encode(), given)


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
