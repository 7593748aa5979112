"""Dashboard sessions bound to the credential that made them, and throttled sign-in.

A session cookie is signed (:mod:`tidings.dashboard.auth`), but a signature alone would
keep it valid until it expires. :class:`SessionBook` also asks, on every request:

- was it signed out? ``POST /logout`` records the session id in the database's
  settings, so every process sharing the database refuses it from then on;
- does its credential still stand? A session made with an admin API key lives only
  while that key exists, is not revoked and is still an admin key; one made with the
  dashboard password carries a fingerprint of the password hash, so setting a new
  ``TIDINGS_DASHBOARD_PASSWORD_HASH`` ends every password session.

:class:`LoginThrottle` counts failed sign-ins per client address and per account
(the password, or API keys as a whole): after a few free attempts each further one
must wait longer (doubling, at most 15 minutes), answered 429 with ``Retry-After``
before any password is checked. :class:`LoginTokens` makes the sign-in form's token
single-use, so every attempt needs a fresh form.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from tidings.app import Tidings
from tidings.dashboard.auth import Session, Signer

SIGNED_OUT = "dashboard/{env}/signed-out/{sid}"
"""The settings key recording that a session was signed out."""
FREE_FAILURES = 5
"""Failed sign-ins a client may make before it must wait."""
FREE_ACCOUNT_FAILURES = 20
"""Failed sign-ins, from all clients together, an account takes before it must wait."""
WINDOW_SECONDS = 15 * 60
"""Failures older than this are forgotten; also the longest wait."""
_MAX_ENTRIES = 10_000  # bounded memory under a flood of addresses


class SessionBook:
    """Decides whether a correctly signed session is still live."""

    def __init__(self, app: Tidings, password_hash: str | None) -> None:
        self.app = app
        self.password_hash = password_hash

    def binding(self, signer: Signer, who: str) -> str:
        """What ``who``'s session is bound to: the password hash's fingerprint, or
        nothing for a key (the key itself is looked up on every request)."""
        if who == "password" and self.password_hash:
            return signer.fingerprint(self.password_hash)
        return ""

    def is_live(self, signer: Signer, session: Session) -> bool:
        """Blocking (reads the database): call it off the event loop."""
        if session.who == "password":
            if not self.password_hash:
                return False
            if session.binding != signer.fingerprint(self.password_hash):
                return False
        elif session.who.startswith("key:"):
            if not self._key_stands(session.who.removeprefix("key:")):
                return False
        else:
            return False
        return self.app.store.notifications.get_setting(self._signed_out(session)) is None

    def sign_out(self, session: Session) -> None:
        self.app.store.notifications.setting(
            self._signed_out(session), str(session.expires), self.app.clock.now()
        )

    def _key_stands(self, key_id: str) -> bool:
        keys = self.app.store.keys.of_environment(self.app.environment)
        return any(k.id == key_id and k.revoked_at is None and k.scope == "admin" for k in keys)

    def _signed_out(self, session: Session) -> str:
        return SIGNED_OUT.format(env=self.app.environment, sid=session.sid)


@dataclass
class _Failures:
    count: int
    last: float


class LoginThrottle:
    """Failed sign-ins per client and per account; how long the next must wait."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._clients: OrderedDict[str, _Failures] = OrderedDict()
        self._accounts: OrderedDict[str, _Failures] = OrderedDict()

    def retry_after(self, client: str, account: str) -> int:
        """Whole seconds the next attempt from ``client`` on ``account`` must wait (0: go)."""
        now = self._clock()
        with self._lock:
            waits = (
                self._wait(self._clients, client, FREE_FAILURES, now),
                self._wait(self._accounts, account, FREE_ACCOUNT_FAILURES, now),
            )
        return max(waits)

    def failed(self, client: str, account: str) -> None:
        now = self._clock()
        with self._lock:
            for table, key in ((self._clients, client), (self._accounts, account)):
                entry = self._current(table, key, now)
                table[key] = _Failures((entry.count if entry else 0) + 1, now)
                table.move_to_end(key)
                while len(table) > _MAX_ENTRIES:
                    table.popitem(last=False)

    def succeeded(self, client: str) -> None:
        """A good sign-in clears its client's failures (not the account's: an attacker
        with one valid key must not reset the password's count)."""
        with self._lock:
            self._clients.pop(client, None)

    def _current(
        self, table: OrderedDict[str, _Failures], key: str, now: float
    ) -> _Failures | None:
        entry = table.get(key)
        if entry is not None and now - entry.last > WINDOW_SECONDS:
            del table[key]
            return None
        return entry

    def _wait(self, table: OrderedDict[str, _Failures], key: str, free: int, now: float) -> int:
        entry = self._current(table, key, now)
        if entry is None or entry.count < free:
            return 0
        delay = min(2.0 ** (entry.count - free), WINDOW_SECONDS)
        return max(0, math.ceil(entry.last + delay - now))


class LoginTokens:
    """Sign-in form tokens, each good for one attempt (in this process) for 10 minutes."""

    TTL = 600.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._spent: OrderedDict[str, float] = OrderedDict()

    def spend(self, token: str) -> bool:
        """True the first time ``token`` is presented; False on any reuse."""
        now = self._clock()
        with self._lock:
            while self._spent and next(iter(self._spent.values())) < now - self.TTL:
                self._spent.popitem(last=False)
            if token in self._spent:
                return False
            self._spent[token] = now
            while len(self._spent) > _MAX_ENTRIES:
                self._spent.popitem(last=False)
            return True
