"""Settings of the HTTP API: request limits, CORS and the public URL."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tidings.errors import ConfigError

DEFAULT_MAX_BODY_BYTES = 256 * 1024
DEFAULT_KEY_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class ServerSettings:
    """How the HTTP API limits requests. Validated on construction."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """Largest request body accepted; a larger one is answered 413."""
    rate_limit: float | None = None
    """Requests per second allowed per API key (None: unlimited); over it, 429."""
    rate_burst: int | None = None
    """Requests a key may make at once before ``rate_limit`` applies (default: 2 s worth)."""
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    """Browser origins allowed to call the API (the embeddable inbox); ``*`` for any."""
    public_url: str | None = None
    """The base URL the world reaches this server at (``https://tidings.example.com``),
    when it runs behind a proxy; Twilio signs webhooks over the URL it called. None: the
    URL of the request as received."""
    key_cache_seconds: float = DEFAULT_KEY_CACHE_SECONDS
    """How long a process trusts an API key it has verified without asking the database
    again: a revoked key is refused everywhere within this many seconds (0: never cached)."""

    def __post_init__(self) -> None:
        if isinstance(self.max_body_bytes, bool) or not isinstance(self.max_body_bytes, int):
            raise ConfigError(f"max_body_bytes must be an int, got {self.max_body_bytes!r}")
        if self.max_body_bytes < 1024:
            raise ConfigError(f"max_body_bytes must be at least 1024, got {self.max_body_bytes}")
        if self.rate_limit is not None and not self.rate_limit > 0:
            raise ConfigError(f"rate_limit must be positive, got {self.rate_limit!r}")
        if self.rate_burst is not None and self.rate_burst < 1:
            raise ConfigError(f"rate_burst must be at least 1, got {self.rate_burst!r}")
        if self.public_url is not None:
            parts = urlsplit(self.public_url)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
                raise ConfigError(
                    f"public_url must be an http(s) base URL like https://tidings.example.com, "
                    f"got {self.public_url!r}"
                )
            object.__setattr__(self, "public_url", self.public_url.rstrip("/"))
        seconds = self.key_cache_seconds
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds >= 0:
            raise ConfigError(f"key_cache_seconds must be 0 or more, got {seconds!r}")
        if seconds > 300:
            raise ConfigError(
                f"key_cache_seconds must be at most 300 (revocation waits that long), got {seconds}"
            )

    @property
    def burst(self) -> int:
        if self.rate_burst is not None:
            return self.rate_burst
        return max(1, int((self.rate_limit or 0) * 2))

    @classmethod
    def from_env(cls, **defaults: object) -> ServerSettings:
        """``defaults`` (from tidings.toml) overridden by ``TIDINGS_*`` variables."""
        values = dict(defaults)
        env = os.environ
        if raw := env.get("TIDINGS_MAX_BODY_BYTES"):
            values["max_body_bytes"] = _number(raw, "TIDINGS_MAX_BODY_BYTES", int)
        if raw := env.get("TIDINGS_RATE_LIMIT"):
            values["rate_limit"] = _number(raw, "TIDINGS_RATE_LIMIT", float)
        if raw := env.get("TIDINGS_RATE_BURST"):
            values["rate_burst"] = _number(raw, "TIDINGS_RATE_BURST", int)
        if raw := env.get("TIDINGS_PUBLIC_URL"):
            values["public_url"] = raw
        if raw := env.get("TIDINGS_KEY_CACHE_SECONDS"):
            values["key_cache_seconds"] = _number(raw, "TIDINGS_KEY_CACHE_SECONDS", float)
        if raw := env.get("TIDINGS_CORS_ORIGINS"):
            values["cors_origins"] = tuple(o.strip() for o in raw.split(",") if o.strip())
        if "cors_origins" in values:
            values["cors_origins"] = tuple(values["cors_origins"])  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]


def _number(raw: str, name: str, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"${name} must be a number, got {raw!r}") from None
