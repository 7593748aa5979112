"""What the HTTP providers share: one lazily opened client, transport errors, redaction."""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tidings.providers.base import Provider, RetryableProviderError
from tidings.providers.limits import LocalRateLimiter, shared_limiter

log = logging.getLogger("tidings.providers")

REDACTED = "[redacted]"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret (and its 6-character-plus prefix) replaced."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """The ``Retry-After`` hint in seconds (delta-seconds or an HTTP date), if any."""
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def json_body(response: httpx.Response) -> Any:
    """The decoded JSON body, or None when it is not JSON."""
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


class HttpProvider(Provider):
    """A provider speaking HTTP through one ``httpx.AsyncClient`` opened on first use."""

    base_url: str
    timeout: float
    _client: httpx.AsyncClient | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    def _secrets(self) -> tuple[str | None, ...]:
        """The values that must never appear in an error message or log line."""
        return ()

    def _client_options(self) -> dict[str, Any]:
        return {}

    @property
    def client(self) -> httpx.AsyncClient:
        client, loop = self._client, asyncio.get_running_loop()
        # A client's pooled connections belong to the loop that opened them: a provider
        # used from a new event loop (a second asyncio.run) starts a new pool.
        if client is None or client.is_closed or self._loop is not loop:
            client = httpx.AsyncClient(
                base_url=self.base_url, timeout=self.timeout, **self._client_options()
            )
            self._client, self._loop = client, loop
        return client

    async def aclose(self) -> None:
        client = self._client
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.aclose()
        self._client = self._loop = None

    @asynccontextmanager
    async def _throttle(self, permits: int = 1) -> AsyncIterator[None]:
        """Hold ``permits`` of this account's budget around one request."""
        if self.rate_limit is None:
            yield
            return
        limiter: LocalRateLimiter = shared_limiter(self.rate_limit)
        async with limiter.permit(permits):
            yield

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request; a timeout or a transport failure becomes a retryable error."""
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise RetryableProviderError(
                f"{self.name}: no answer from {self.base_url} within {self.timeout:g}s "
                f"({type(exc).__name__})",
                code="timeout",
            ) from None
        except httpx.TransportError as exc:
            detail = redact(str(exc) or type(exc).__name__, self._secrets())
            raise RetryableProviderError(
                f"{self.name}: cannot reach {self.base_url}: {detail}", code="connect_error"
            ) from None
        log.debug("%s: %s %s -> %s", self.name, method, path, response.status_code)
        return response
