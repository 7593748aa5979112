"""API keys: one set per environment, shown once, stored as a SHA-256 hash.

A key reads ``tk_<environment>_<43 random URL-safe characters>`` (256 bits from
``secrets``). A fast hash is enough here, unlike for passwords: a key this random cannot
be guessed or found by trying, so the hash only has to stop a leaked database (or a
backup) from yielding usable keys, and a lookup by hash costs one indexed read per
request. The environment is in the key and in its stored row; a key is accepted only
by its own environment, even when two environments share one database.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from tidings.errors import InvalidApiKeyError, ValidationError
from tidings.ids import new_id
from tidings.store.base import Store
from tidings.store.keys import ApiKeyRecord

SCOPES = ("admin", "publish")
"""``admin``: every endpoint. ``publish``: send events and trigger tasks only."""
PREFIX = "tk_"
_HINT_CHARS = 8  # random characters kept after the prefix, to recognise a key


@dataclass(frozen=True)
class NewKey:
    """A key just created: ``secret`` is shown once and never stored."""

    secret: str
    record: ApiKeyRecord


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_environment(secret: str) -> str | None:
    """The environment a key names, or None if it is not shaped like a tidings key."""
    if not secret.startswith(PREFIX):
        return None
    env, sep, rest = secret[len(PREFIX) :].partition("_")  # env names have no "_"
    return env if sep and env and len(rest) >= 32 else None


def create_key(store: Store, environment: str, *, name: str, scope: str, now: datetime) -> NewKey:
    if scope not in SCOPES:
        raise ValidationError(f"unknown scope {scope!r}; use one of {', '.join(SCOPES)}")
    if not name or len(name) > 100:
        raise ValidationError("a key name must be 1 to 100 characters")
    random_part = secrets.token_urlsafe(32)
    secret = f"{PREFIX}{environment}_{random_part}"
    record = ApiKeyRecord(
        id=new_id("key"),
        environment=environment,
        name=name,
        scope=scope,
        hint=f"{PREFIX}{environment}_{random_part[:_HINT_CHARS]}",
        created_at=now,
    )
    store.keys.create(record, hash_key(secret))
    return NewKey(secret, record)


def verify_key(store: Store, environment: str, secret: str) -> ApiKeyRecord:
    """The live key of ``environment`` that ``secret`` is; InvalidApiKeyError otherwise.

    The message never repeats the key.
    """
    if key_environment(secret) != environment:
        raise InvalidApiKeyError(f"not an API key of the {environment!r} environment")
    record = store.keys.find(hash_key(secret))
    if record is None or record.environment != environment:
        raise InvalidApiKeyError(f"unknown API key for the {environment!r} environment")
    if record.revoked_at is not None:
        raise InvalidApiKeyError("this API key has been revoked")
    return record
