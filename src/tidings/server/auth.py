"""Bearer API keys and the per-key rate limit."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request

from tidings.app import Tidings
from tidings.errors import InvalidApiKeyError
from tidings.keys import hash_key, verify_key
from tidings.server.errors import ApiError
from tidings.settings import ServerSettings
from tidings.store.keys import ApiKeyRecord


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per API key, in this process (each API server limits on its own)."""

    def __init__(self, rate: float | None, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key_id: str) -> float | None:
        """None if the request may go on, else the seconds until it could."""
        if self.rate is None:
            return None
        now = time.monotonic()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return (1 - bucket.tokens) / self.rate


class KeyCache:
    """API keys this process verified recently, by the hash of their secret (never the
    secret itself): a hit skips the database. Only live keys are kept, so a new key works
    at once and a wrong one is always looked up; a revoked key is still accepted by a
    process that saw it for at most ``ttl`` seconds."""

    MAX_KEYS = 10_000

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._keys: dict[str, tuple[ApiKeyRecord, float]] = {}

    def get(self, digest: str) -> ApiKeyRecord | None:
        hit = self._keys.get(digest)
        if hit is None:
            return None
        if hit[1] <= time.monotonic():
            self._keys.pop(digest, None)
            return None
        return hit[0]

    def put(self, digest: str, key: ApiKeyRecord) -> None:
        if self.ttl <= 0:
            return
        if len(self._keys) >= self.MAX_KEYS:
            self._keys.clear()
        self._keys[digest] = (key, time.monotonic() + self.ttl)


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "the Authorization header must be 'Bearer <key>'")
    return token.strip()


class Authenticator:
    """Checks keys against the app's environment and applies scopes and the rate limit."""

    def __init__(self, app: Tidings, settings: ServerSettings) -> None:
        self.app = app
        self.limiter = RateLimiter(settings.rate_limit, settings.burst)
        self.keys = KeyCache(settings.key_cache_seconds)

    async def check(self, secret: str, scope: str) -> ApiKeyRecord:
        digest = hash_key(secret)
        key = self.keys.get(digest)
        if key is None:
            try:
                key = await asyncio.to_thread(
                    verify_key, self.app.store, self.app.environment, secret
                )
            except InvalidApiKeyError as exc:
                raise ApiError(401, str(exc)) from None
            self.keys.put(digest, key)
        if scope == "admin" and key.scope != "admin":
            raise ApiError(403, f"this endpoint needs an admin key; key {key.id} is {key.scope}")
        self.limit(key.id)
        return key

    def limit(self, bucket: str) -> None:
        """Count one request against ``bucket`` (a key id); 429 when over the rate."""
        wait = self.limiter.take(bucket)
        if wait is not None:
            raise ApiError(
                429,
                f"rate limit of {self.limiter.rate:g} requests/s exceeded",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
                details={"retry_after_seconds": round(wait, 3)},
            )


def require(scope: str) -> Callable[[Request], Awaitable[ApiKeyRecord]]:
    """A dependency: the request's bearer key, which must have ``scope``."""

    async def dependency(request: Request) -> ApiKeyRecord:
        auth: Authenticator = request.app.state.auth
        return await auth.check(bearer_token(request), scope)

    return dependency
