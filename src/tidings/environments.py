"""Environments (``dev``, ``staging``, ``production``, ``preview-<name>``) and their settings.

Each environment has its own database, API keys, signing secret, sandbox rules and
provider settings. Settings come from ``tidings.toml`` and ``TIDINGS_*`` variables, most
specific last:

1. the ``[tidings]`` table (defaults for every environment),
2. the ``[environments.<name>]`` table of the environment in use,
3. ``TIDINGS_*`` environment variables (they apply to whichever environment runs).

Provider settings merge by name: ``[environments.<name>.channels]`` replaces the list of
each channel it names, and ``[environments.<name>.providers.<provider>]`` replaces that
provider's whole table; channels and providers it does not name come from ``[tidings]``.

A preview environment without its own table takes its database from
``preview_database_url`` in ``[tidings]``, where ``{name}`` stands for the part after
``preview-`` with ``-`` turned into ``_`` (so it fits a PostgreSQL schema name); without
that, from its own SQLite file ``.tidings/preview-<name>.db``.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pydantic

from tidings.errors import ConfigError

CONFIG_FILE = "tidings.toml"
STANDARD = ("dev", "staging", "production")
PREVIEW = re.compile(r"^preview-[a-z0-9][a-z0-9-]{0,40}$")

_SECRET_KEYS = ("secret_key",)


class EnvironmentSettings(pydantic.BaseModel):
    """Settings of one environment (a ``[environments.<name>]`` table, or ``[tidings]``)."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    database_url: str | None = None
    """Its database: ``sqlite:///path.db`` or ``postgresql://...?schema=NAME``."""
    secret_key: str | None = None
    """Signs inbox tokens; better given as $TIDINGS_SECRET_KEY than written in a file."""
    sandbox: bool | None = None
    """External sends go to the outbox unless allow-listed; default: all but production."""
    sandbox_allow: tuple[str, ...] = ()
    """Recipient ids, email addresses or phone numbers a sandbox still really sends to."""
    max_body_bytes: int | None = pydantic.Field(default=None, ge=1024)
    """HTTP API: largest request body (default 256 KiB)."""
    rate_limit: float | None = pydantic.Field(default=None, gt=0)
    """HTTP API: requests per second per API key (default: unlimited)."""
    rate_burst: int | None = pydantic.Field(default=None, ge=1)
    """HTTP API: requests a key may make at once before the rate applies."""
    cors_origins: tuple[str, ...] | None = None
    """HTTP API: browser origins allowed (the embeddable inbox)."""
    key_cache_seconds: float | None = pydantic.Field(default=None, ge=0, le=300)
    """HTTP API: how long a verified API key is trusted without a database look-up."""
    channels: dict[str, list[str]] | None = None
    """Provider names per channel, in failover order (see ``tidings.providers.config``)."""
    providers: dict[str, dict[str, Any]] | None = None
    """Each provider's options, by name (see ``tidings.providers.config``)."""
    dashboard_password_hash: str | None = None
    """Dashboard sign-in password (scrypt hash from ``python -m tidings.dashboard.auth``)."""


_ENV_VARS: dict[str, str] = {
    "database_url": "TIDINGS_DATABASE_URL",
    "secret_key": "TIDINGS_SECRET_KEY",
    "sandbox": "TIDINGS_SANDBOX",
    "sandbox_allow": "TIDINGS_SANDBOX_ALLOW",
    "max_body_bytes": "TIDINGS_MAX_BODY_BYTES",
    "rate_limit": "TIDINGS_RATE_LIMIT",
    "rate_burst": "TIDINGS_RATE_BURST",
    "cors_origins": "TIDINGS_CORS_ORIGINS",
    "key_cache_seconds": "TIDINGS_KEY_CACHE_SECONDS",
    "dashboard_password_hash": "TIDINGS_DASHBOARD_PASSWORD_HASH",
}
_LISTS = ("sandbox_allow", "cors_origins")
_BY_NAME = ("channels", "providers")
"""Tables an environment overrides entry by entry rather than as a whole."""


def read_toml(directory: Path | None = None) -> dict[str, Any]:
    """The whole ``tidings.toml`` of ``directory`` (default cwd); empty if absent."""
    path = (directory or Path.cwd()) / CONFIG_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def is_preview(environment: str) -> bool:
    return bool(PREVIEW.match(environment))


def check_name(environment: str) -> str:
    if environment in STANDARD or is_preview(environment):
        return environment
    raise ConfigError(
        f"unknown environment {environment!r}: use dev, staging, production or "
        "preview-<name> (lowercase letters, digits and '-')"
    )


def _validate(table: Any, where: str) -> EnvironmentSettings:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    try:
        return EnvironmentSettings.model_validate(table)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        known = ", ".join(EnvironmentSettings.model_fields)
        raise ConfigError(f"{CONFIG_FILE} {where}: {problems} (known keys: {known})") from None


def _from_env_vars() -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field, var in _ENV_VARS.items():
        raw = os.environ.get(var)
        if raw is None or raw == "":
            continue
        if field in _LISTS:
            values[field] = tuple(v.strip() for v in raw.split(",") if v.strip())
        elif field == "sandbox":
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ConfigError(f"${var} must be true or false, got {raw!r}")
            values[field] = raw.lower() in ("1", "true", "yes", "on")
        else:
            values[field] = raw
    return values


def environment_settings(
    environment: str,
    directory: Path | None = None,
    *,
    data: dict[str, Any] | None = None,
    env_vars: bool = True,
) -> EnvironmentSettings:
    """The merged settings of ``environment`` (file tables, then ``TIDINGS_*``).

    ``env_vars=False`` leaves the ``TIDINGS_*`` variables out: they belong to the
    environment the process runs, not to others it looks at (the dashboard switcher)."""
    data = read_toml(directory) if data is None else data
    base = data.get("tidings", {})
    if not isinstance(base, dict):
        raise ConfigError(f"{CONFIG_FILE}: 'tidings' must be a table ([tidings])")
    # [tidings] also holds keys that are not per-environment (app, channels...): they are
    # validated by tidings.config.FileSettings, not here
    merged = {k: v for k, v in base.items() if k in EnvironmentSettings.model_fields}
    sections = data.get("environments", {})
    if not isinstance(sections, dict):
        raise ConfigError(f"{CONFIG_FILE}: 'environments' must hold [environments.<name>] tables")
    section = sections.get(environment)
    if section is not None:
        own = _validate(section, f"[environments.{environment}]").model_dump(exclude_unset=True)
        for key in _BY_NAME:
            if isinstance(own.get(key), dict) and isinstance(merged.get(key), dict):
                own[key] = {**merged[key], **own[key]}
        merged.update(own)
    elif is_preview(environment) and (template := base.get("preview_database_url")):
        merged["database_url"] = str(template).replace(
            "{name}", environment.removeprefix("preview-").replace("-", "_")
        )
    if env_vars:
        merged.update(_from_env_vars())
    return _validate(merged, f"settings of environment {environment!r}")


def sandboxed(environment: str, settings: EnvironmentSettings) -> bool:
    """Every environment but production is a sandbox unless its settings say otherwise."""
    return settings.sandbox if settings.sandbox is not None else environment != "production"


def configured_environments(data: dict[str, Any]) -> list[str]:
    sections = data.get("environments", {})
    names = set(STANDARD) | (set(sections) if isinstance(sections, dict) else set())
    return sorted(
        names, key=lambda n: (n not in STANDARD, STANDARD.index(n) if n in STANDARD else 0, n)
    )


def check_config(directory: Path | None = None) -> list[str]:
    """Every problem found in ``tidings.toml`` and ``TIDINGS_*``, secrets never shown."""
    problems: list[str] = []
    try:
        data = read_toml(directory)
    except ConfigError as exc:
        return [str(exc)]
    base = data.get("tidings", {})
    unknown_tables = sorted(set(data) - {"tidings", "environments"})
    if unknown_tables:
        problems.append(f"{CONFIG_FILE}: unknown tables {', '.join(unknown_tables)}")
    if isinstance(base, dict):
        from tidings.config import FileSettings  # tidings.config imports this module

        extra = set(base) - set(FileSettings.model_fields) - set(EnvironmentSettings.model_fields)
        if extra:
            problems.append(f"[tidings]: unknown keys {', '.join(sorted(extra))}")
    for name in configured_environments(data):
        try:
            check_name(name)
            settings = environment_settings(name, data=data)
        except ConfigError as exc:
            problems.append(redact(str(exc), data))
            continue
        if name == "production" and settings.sandbox:
            problems.append("production has sandbox = true: nothing would really be sent")
        if name == "production" and not settings.secret_key:
            problems.append("production has no secret_key (set $TIDINGS_SECRET_KEY)")
        if problem := _provider_problem(settings):
            problems.append(f"{name}: {problem}")
    return problems


def provider_table(settings: EnvironmentSettings) -> dict[str, Any]:
    """The ``channels`` and ``providers`` of an environment, as ``providers_from_config``
    takes them."""
    return {"channels": settings.channels or {}, "providers": settings.providers or {}}


def _provider_problem(settings: EnvironmentSettings) -> str | None:
    """Why the environment's providers cannot be built (None if they can); the message
    names providers and options, never a value."""
    from tidings.providers.config import providers_from_config

    try:
        providers_from_config(provider_table(settings))
    except ConfigError as exc:
        return str(exc)
    return None


def redact(message: str, data: dict[str, Any]) -> str:
    """``message`` with every configured secret value replaced by ``***``."""
    secrets: list[str] = []
    tables = [data.get("tidings", {}), *(data.get("environments") or {}).values()]
    for table in tables:
        if isinstance(table, dict):
            secrets += [str(table[k]) for k in _SECRET_KEYS if table.get(k)]
    if raw := os.environ.get("TIDINGS_SECRET_KEY"):
        secrets.append(raw)
    for value in secrets:
        message = message.replace(value, "***")
    return message
