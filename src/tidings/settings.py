"""Settings: ``tidings.toml``, ``TIDINGS_*`` variables and environment names, in one place.

Everything tidings reads from the file or the process environment is read and checked
here and handed on as typed, frozen objects: the server gets :class:`ServerSettings`,
the providers and dashboards :class:`EnvironmentSettings`, the command line
:class:`CommandSettings`, the app its environment, database URL and lease.

Precedence, highest first:

1. command-line flags (``--app``, ``--database-url``, ``--env``);
2. ``TIDINGS_*`` environment variables (they apply to whichever environment runs);
3. the ``[environments.<name>]`` table of the environment in use;
4. the ``[tidings]`` table (defaults for every environment);
5. the defaults (and what the app's code passed to ``Tidings(...)``).

Provider settings merge by name: ``[environments.<name>.channels]`` replaces the list of
each channel it names, and ``[environments.<name>.providers.<provider>]`` replaces that
provider's whole table; channels and providers it does not name come from ``[tidings]``.

A preview environment without its own table takes its database from
``preview_database_url`` in ``[tidings]``, where ``{name}`` stands for the part after
``preview-`` with ``-`` turned into ``_`` (so it fits a PostgreSQL schema name); without
that, from its own SQLite file ``.tidings/preview-<name>.db``.

The ``[retention]`` table (every environment) is read by :func:`retention_settings`.

This module is a foundation: it imports nothing of tidings but its errors, the alert
rules (:mod:`tidings.alerting`) and the :class:`~tidings.retention.Retention` option,
foundations both.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pydantic

from tidings.alerting import Alert, Webhook
from tidings.errors import ConfigError
from tidings.retention import Retention

CONFIG_FILE = "tidings.toml"

# -- environment names -----------------------------------------------------------------
STANDARD = ("dev", "staging", "production")
"""The environments every deployment has."""
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
PREVIEW = re.compile(r"^preview-[a-z0-9][a-z0-9-]{0,40}$")
"""``preview-<name>``: a well-formed name with a prefix and a shorter tail."""
DEFAULT_ENVIRONMENT = "dev"


def validate_environment(name: str) -> str:
    """Return ``name`` if it is a well-formed environment name, else raise ConfigError.

    The one rule for every name: lowercase letters, digits and ``-``, at most 63
    characters. An app may run under any such name (``integration``); the environments
    a deployment configures, serves and keys are :func:`check_name`'s subset of it."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"environment name {name!r} is invalid: use lowercase letters, digits and '-' "
            "(dev, staging, production, preview-<name>)"
        )
    return name


def is_preview(environment: str) -> bool:
    return bool(PREVIEW.match(environment))


def check_name(environment: str) -> str:
    """Return ``environment`` if it is one a deployment configures: ``dev``, ``staging``,
    ``production`` or ``preview-<name>``; else raise ConfigError."""
    validate_environment(environment)
    if environment in STANDARD or is_preview(environment):
        return environment
    raise ConfigError(
        f"unknown environment {environment!r}: use dev, staging, production or "
        "preview-<name> (lowercase letters, digits and '-')"
    )


def default_database_url(environment: str) -> str:
    """Each environment has its own embedded database by default."""
    return f"sqlite:///.tidings/{environment}.db"


# -- TIDINGS_* variables ---------------------------------------------------------------
def process_environ(environ: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """The variables settings are read from: ``environ`` if given, else the process's.

    Provider options read ``TIDINGS_<PROVIDER>_<OPTION>`` and the variables their
    ``*_env`` options name through this too, so every read of the environment goes
    through this module (and tests can pass a mapping instead).
    """
    return os.environ if environ is None else environ


def _variable(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """``$name``, or None when it is unset or empty."""
    return process_environ(environ).get(name) or None


def resolve_environment(given: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The environment to run: ``given``, else ``$TIDINGS_ENV``, else ``dev``; checked."""
    return validate_environment(given or _variable("TIDINGS_ENV", environ) or DEFAULT_ENVIRONMENT)


def resolve_database_url(
    given: str | None, environment: str, environ: Mapping[str, str] | None = None
) -> str:
    """The database: ``given``, else ``$TIDINGS_DATABASE_URL``, else the environment's own
    SQLite file."""
    return given or _variable("TIDINGS_DATABASE_URL", environ) or default_database_url(environment)


def env_database_url(environ: Mapping[str, str] | None = None) -> str | None:
    """``$TIDINGS_DATABASE_URL``, if set."""
    return _variable("TIDINGS_DATABASE_URL", environ)


def env_seconds(
    name: str, default: timedelta, environ: Mapping[str, str] | None = None
) -> timedelta:
    """A positive number of seconds from ``$name``, else ``default``."""
    raw = _variable(name, environ)
    if raw is None:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        raise ConfigError(f"${name} must be a number of seconds, got {raw!r}") from None
    if seconds <= 0:
        raise ConfigError(f"${name} must be positive, got {raw!r}")
    return timedelta(seconds=seconds)


def env_secret_key(environ: Mapping[str, str] | None = None) -> str | None:
    """``$TIDINGS_SECRET_KEY``, if set: the running environment's signing secret."""
    return _variable("TIDINGS_SECRET_KEY", environ)


def env_public_url(environ: Mapping[str, str] | None = None) -> str | None:
    """``$TIDINGS_PUBLIC_URL``, if set: where the world reaches the tidings server."""
    return _variable("TIDINGS_PUBLIC_URL", environ)


def env_dashboard_password_hash(environ: Mapping[str, str] | None = None) -> str | None:
    """``$TIDINGS_DASHBOARD_PASSWORD_HASH``, if set."""
    return _variable("TIDINGS_DASHBOARD_PASSWORD_HASH", environ)


def env_log_format(environ: Mapping[str, str] | None = None) -> str | None:
    """``$TIDINGS_LOG_FORMAT``, if set (``text`` or ``json``; checked by tidings.logs)."""
    return _variable("TIDINGS_LOG_FORMAT", environ)


def env_demo_launcher(environ: Mapping[str, str] | None = None) -> str | None:
    """``$TIDINGS_DEMO_LAUNCHER``: ``make`` when ``make demo`` started ``tidings demo``
    (the Makefile sets it), so the demo names the command the user typed."""
    return _variable("TIDINGS_DEMO_LAUNCHER", environ)


def default_lease(environ: Mapping[str, str] | None = None) -> timedelta:
    """How long a claimed run stays claimed: ``$TIDINGS_LEASE_SECONDS``, else 30 s."""
    return env_seconds("TIDINGS_LEASE_SECONDS", timedelta(seconds=30), environ)


def _number(raw: str, name: str, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"${name} must be a number, got {raw!r}") from None


def _flag(raw: str, name: str) -> bool:
    if raw.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
        raise ConfigError(f"${name} must be true or false, got {raw!r}")
    return raw.lower() in ("1", "true", "yes", "on")


def _names(raw: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in raw.split(",") if v.strip())


_Parse = Callable[[str, str], Any]
_VARIABLES: dict[str, tuple[str, _Parse]] = {
    "database_url": ("TIDINGS_DATABASE_URL", lambda raw, _: raw),
    "secret_key": ("TIDINGS_SECRET_KEY", lambda raw, _: raw),
    "sandbox": ("TIDINGS_SANDBOX", _flag),
    "sandbox_allow": ("TIDINGS_SANDBOX_ALLOW", lambda raw, _: _names(raw)),
    "max_body_bytes": ("TIDINGS_MAX_BODY_BYTES", lambda raw, n: _number(raw, n, int)),
    "max_notify_list": ("TIDINGS_MAX_NOTIFY_LIST", lambda raw, n: _number(raw, n, int)),
    "rate_limit": ("TIDINGS_RATE_LIMIT", lambda raw, n: _number(raw, n, float)),
    "rate_burst": ("TIDINGS_RATE_BURST", lambda raw, n: _number(raw, n, int)),
    "cors_origins": ("TIDINGS_CORS_ORIGINS", lambda raw, _: _names(raw)),
    "key_cache_seconds": ("TIDINGS_KEY_CACHE_SECONDS", lambda raw, n: _number(raw, n, float)),
    "dashboard_password_hash": ("TIDINGS_DASHBOARD_PASSWORD_HASH", lambda raw, _: raw),
}
"""Per-environment settings that a ``TIDINGS_*`` variable sets: field -> (variable, parse)."""


def _from_variables(
    fields: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, (variable, parse) in _VARIABLES.items():
        if fields is not None and name not in fields:
            continue
        if (raw := _variable(variable, environ)) is not None:
            values[name] = parse(raw, variable)
    return values


# -- tidings.toml ----------------------------------------------------------------------
class AlertSettings(pydantic.BaseModel):
    """One ``[[tidings.alerts]]`` (or ``[[environments.<name>.alerts]]``) table: an
    :class:`~tidings.Alert` rule. Durations are seconds. A webhook's signing secret is
    never written in the file: ``webhook_secret_env`` names the variable holding it."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    on: str
    """``run.failed``, ``deliveries.failing``, ``timers.late`` or ``queue.backlog``."""
    to: str | None = None
    """An operator recipient id (or give a webhook instead)."""
    webhook_url: str | None = None
    """Where to POST the alert (a Slack incoming webhook URL works)."""
    webhook_url_env: str | None = None
    """The variable holding the webhook URL instead (Slack's URL holds a token)."""
    webhook_secret_env: str | None = None
    """The variable holding the webhook's ``whsec_...`` signing secret."""
    every: float = 900
    tasks: tuple[str, ...] | None = None
    threshold: float | None = None
    window: float | None = None
    provider: str | None = None
    name: str | None = None

    def rule(self, environ: Mapping[str, str] | None = None) -> Alert:
        """The :class:`Alert` this table describes; ConfigError naming what is wrong."""
        url = self.webhook_url
        if self.webhook_url_env is not None:
            url = _variable(self.webhook_url_env, environ)
            if url is None:
                raise ConfigError(f"webhook_url_env names ${self.webhook_url_env}, which is unset")
        if (self.to is None) == (url is None):
            raise ConfigError("give either to (a recipient id) or a webhook URL")
        target: str | Webhook
        if url is not None:
            if self.webhook_secret_env is None:
                raise ConfigError("a webhook needs webhook_secret_env (its whsec_ secret)")
            secret = _variable(self.webhook_secret_env, environ)
            if secret is None:
                raise ConfigError(
                    f"webhook_secret_env names ${self.webhook_secret_env}, which is unset"
                )
            target = Webhook(url, secret)
        else:
            assert self.to is not None
            target = self.to
        return Alert(
            on=self.on, to=target, every=self.every, tasks=self.tasks,
            threshold=self.threshold, window=self.window, provider=self.provider,
            name=self.name,
        )  # fmt: skip


def alert_rules(
    settings: EnvironmentSettings, environ: Mapping[str, str] | None = None
) -> list[Alert]:
    """The environment's alert rules; ConfigError naming the table at fault."""
    rules = []
    for i, table in enumerate(settings.alerts or ()):
        try:
            rules.append(table.rule(environ))
        except ConfigError as exc:
            raise ConfigError(f"{CONFIG_FILE} alerts[{i}] ({table.on}): {exc}") from None
    return rules


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
    max_notify_list: int | None = pydantic.Field(default=None, ge=1)
    """HTTP API: most recipients a notify's ``to`` list may name (default 1,000)."""
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
    alerts: tuple[AlertSettings, ...] | None = None
    """Alert rules, used when the app's code sets none (see :class:`AlertSettings`)."""


class FileSettings(pydantic.BaseModel):
    """The ``[tidings]`` table of ``tidings.toml``."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    app: str | None = None
    """Where the app lives, as ``module:attribute``."""
    database_url: str | None = None
    """Overrides the app's database URL."""
    environment: str | None = None
    """Overrides the app's environment (``dev``, ``staging``, ``production``...)."""
    preview_database_url: str | None = None
    """Database of ``preview-*`` environments; ``{name}`` is the preview's name."""
    # Defaults for every environment; see EnvironmentSettings.
    secret_key: str | None = None
    sandbox: bool | None = None
    sandbox_allow: tuple[str, ...] = ()
    max_body_bytes: int | None = None
    max_notify_list: int | None = None
    rate_limit: float | None = None
    rate_burst: int | None = None
    cors_origins: tuple[str, ...] | None = None
    key_cache_seconds: float | None = None
    dashboard_password_hash: str | None = None
    dashboard_environments: list[str] | None = None
    """Other environments whose dashboards this process serves at /dashboard/<name>/."""
    channels: dict[str, list[str]] | None = None
    """Provider names per channel, in failover order (see ``tidings.providers.config``)."""
    providers: dict[str, dict[str, Any]] | None = None
    """Each provider's options, by name (see ``tidings.providers.config``)."""
    alerts: tuple[AlertSettings, ...] | None = None
    """Alert rules of every environment (an environment's own list replaces them)."""


_BY_NAME = ("channels", "providers")
"""Tables an environment overrides entry by entry rather than as a whole."""
_SECRET_KEYS = ("secret_key",)


def read_toml(directory: Path | None = None) -> dict[str, Any]:
    """The whole ``tidings.toml`` of ``directory`` (default cwd); empty if absent.

    The only function that reads the file."""
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


def _problems(exc: pydantic.ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
    )


def read_config_file(directory: Path | None = None) -> FileSettings:
    """The ``[tidings]`` table of ``tidings.toml`` in ``directory`` (default: cwd),
    checked; empty settings if there is no file."""
    path = (directory or Path.cwd()) / CONFIG_FILE
    table = read_toml(directory).get("tidings", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: 'tidings' must be a table ([tidings]), not a value")
    try:
        return FileSettings.model_validate(table)
    except pydantic.ValidationError as exc:
        known = ", ".join(FileSettings.model_fields)
        raise ConfigError(f"{path} [tidings]: {_problems(exc)} (known keys: {known})") from None


def retention_settings(
    directory: Path | None = None, *, data: dict[str, Any] | None = None
) -> Retention | None:
    """The ``[retention]`` table of ``tidings.toml`` as a :class:`Retention` (periods
    like ``"30d"``, ``"36h"``, ``"off"``); None when the file has no such table."""
    data = read_toml(directory) if data is None else data
    table = data.get("retention")
    if table is None:
        return None
    return Retention.from_table(table, f"{CONFIG_FILE} [retention]")


def _validate(table: Any, where: str) -> EnvironmentSettings:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    try:
        return EnvironmentSettings.model_validate(table)
    except pydantic.ValidationError as exc:
        known = ", ".join(EnvironmentSettings.model_fields)
        raise ConfigError(
            f"{CONFIG_FILE} {where}: {_problems(exc)} (known keys: {known})"
        ) from None


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
    # validated by FileSettings, not here
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
        merged.update(_from_variables())
    return _validate(merged, f"settings of environment {environment!r}")


def sandboxed(environment: str, settings: EnvironmentSettings) -> bool:
    """Every environment but production is a sandbox unless its settings say otherwise."""
    return settings.sandbox if settings.sandbox is not None else environment != "production"


def configured_environments(data: dict[str, Any]) -> list[str]:
    """The standard environments and those with a table, standard ones first."""
    sections = data.get("environments", {})
    names = set(STANDARD) | (set(sections) if isinstance(sections, dict) else set())
    return sorted(
        names, key=lambda n: (n not in STANDARD, STANDARD.index(n) if n in STANDARD else 0, n)
    )


def provider_table(settings: EnvironmentSettings) -> dict[str, Any]:
    """The ``channels`` and ``providers`` of an environment, as ``providers_from_config``
    takes them."""
    return {"channels": settings.channels or {}, "providers": settings.providers or {}}


ProviderCheck = Callable[[EnvironmentSettings], "str | None"]
"""Why an environment's providers cannot be built (None if they can)."""


def check_config(
    directory: Path | None = None, *, check_providers: ProviderCheck | None = None
) -> list[str]:
    """Every problem found in ``tidings.toml`` and ``TIDINGS_*``, secrets never shown.

    ``check_providers`` (``tidings.providers.config.provider_problem``) also tries to
    build each environment's providers; without it they are not checked."""
    problems: list[str] = []
    try:
        data = read_toml(directory)
    except ConfigError as exc:
        return [str(exc)]
    base = data.get("tidings", {})
    unknown_tables = sorted(set(data) - {"tidings", "environments", "retention"})
    if unknown_tables:
        problems.append(f"{CONFIG_FILE}: unknown tables {', '.join(unknown_tables)}")
    try:
        retention_settings(data=data)
    except ConfigError as exc:
        problems.append(str(exc))
    if isinstance(base, dict):
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
        try:
            alert_rules(settings)
        except ConfigError as exc:
            problems.append(f"{name}: {redact(str(exc), data)}")
        if check_providers is not None and (problem := check_providers(settings)):
            problems.append(f"{name}: {problem}")
    return problems


def redact(message: str, data: dict[str, Any]) -> str:
    """``message`` with every configured secret value replaced by ``***``."""
    secrets: list[str] = []
    tables = [data.get("tidings", {}), *(data.get("environments") or {}).values()]
    for table in tables:
        if isinstance(table, dict):
            secrets += [str(table[k]) for k in _SECRET_KEYS if table.get(k)]
    if raw := env_secret_key():
        secrets.append(raw)
    for value in secrets:
        message = message.replace(value, "***")
    return message


# -- the command line ------------------------------------------------------------------
_HOW = (
    'pass --app module:attribute, set $TIDINGS_APP, or put app = "module:attribute" '
    f"under [tidings] in ./{CONFIG_FILE}"
)


@dataclass(frozen=True)
class CommandSettings:
    """What a command was told, after flags, environment variables and the file merge."""

    app: str
    """The app, as ``module:attribute``."""
    database_url: str | None
    """``--database-url``, ``$TIDINGS_DATABASE_URL``, or ``database_url`` in ``[tidings]``."""
    environment: str | None
    """``--env``, ``$TIDINGS_ENV``, or ``environment`` in ``[tidings]``."""
    explicit_database_url: str | None = None
    """The database URL given by flag or variable: it wins over the environment's table."""


def resolve_settings(
    app: str | None = None,
    *,
    database_url: str | None = None,
    environment: str | None = None,
    directory: Path | None = None,
) -> CommandSettings:
    """Merge flags, ``TIDINGS_*`` variables and ``tidings.toml``; flags win.

    Raises:
        ConfigError: nothing names an app, or ``tidings.toml`` is malformed.
    """
    env_app = _variable("TIDINGS_APP")
    env_db = _variable("TIDINGS_DATABASE_URL")
    env_env = _variable("TIDINGS_ENV")
    # Read the file only when something is still missing, so a broken tidings.toml
    # does not stop a command that was given everything on the command line.
    file = FileSettings()
    if not ((app or env_app) and (database_url or env_db) and (environment or env_env)):
        file = read_config_file(directory)
    ref = app or env_app or file.app
    if not ref:
        raise ConfigError(f"no app given: {_HOW}")
    return CommandSettings(
        app=ref,
        database_url=database_url or env_db or file.database_url,
        environment=environment or env_env or file.environment,
        explicit_database_url=database_url or env_db,
    )


# -- the HTTP API ----------------------------------------------------------------------
DEFAULT_MAX_BODY_BYTES = 256 * 1024
DEFAULT_KEY_CACHE_SECONDS = 5.0
DEFAULT_MAX_NOTIFY_LIST = 1000
_SERVER_FIELDS = (
    "max_body_bytes",
    "max_notify_list",
    "rate_limit",
    "rate_burst",
    "cors_origins",
    "key_cache_seconds",
)


@dataclass(frozen=True)
class ServerSettings:
    """How the HTTP API limits requests. Validated on construction."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """Largest request body accepted; a larger one is answered 413."""
    max_notify_list: int = DEFAULT_MAX_NOTIFY_LIST
    """Most recipients ``POST /api/v1/notifications`` takes as a list in ``to``; a longer
    list is answered 413 (a topic has no such limit)."""
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
        limit = self.max_notify_list
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"max_notify_list must be a positive int, got {limit!r}")
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
        values.update(_from_variables(_SERVER_FIELDS))
        if public_url := _variable("TIDINGS_PUBLIC_URL"):
            values["public_url"] = public_url
        if "cors_origins" in values:
            values["cors_origins"] = tuple(values["cors_origins"])  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]


def server_settings(environment: str, directory: Path | None = None) -> ServerSettings:
    """The HTTP limits of ``environment``: its tables in tidings.toml, then ``TIDINGS_*``."""
    s = environment_settings(environment, directory, env_vars=False)
    values = {name: value for name in _SERVER_FIELDS if (value := getattr(s, name)) is not None}
    return ServerSettings.from_env(**values)


# -- dashboards of other environments --------------------------------------------------
PREVIEWS = "preview-*"
"""In the list of dashboard environments: every preview environment that exists."""
DASHBOARD_ENVS_VAR = "TIDINGS_DASHBOARD_ENVS"


def dashboard_environments(
    own: str, requested: Sequence[str] | None = None, data: dict[str, Any] | None = None
) -> list[str]:
    """The other environments to serve: ``requested``, else ``$TIDINGS_DASHBOARD_ENVS``,
    else ``dashboard_environments`` in ``[tidings]``; checked, ``own`` left out."""
    names: Sequence[str] | None = requested
    if names is None and (raw := _variable(DASHBOARD_ENVS_VAR)):
        names = raw.split(",")
    if names is None:
        table = (data if data is not None else read_toml()).get("tidings", {})
        names = table.get("dashboard_environments") if isinstance(table, dict) else None
        if names is not None and not isinstance(names, list):
            raise ConfigError("dashboard_environments in [tidings] must be a list of names")
    found: list[str] = []
    for name in (str(n).strip() for n in names or ()):
        if name and name != own and name not in found:
            found.append(name if name == PREVIEWS else check_name(name))
    return found


__all__ = [
    "CONFIG_FILE",
    "PREVIEWS",
    "STANDARD",
    "AlertSettings",
    "CommandSettings",
    "EnvironmentSettings",
    "FileSettings",
    "ServerSettings",
    "alert_rules",
    "check_config",
    "check_name",
    "configured_environments",
    "dashboard_environments",
    "default_database_url",
    "default_lease",
    "env_dashboard_password_hash",
    "env_database_url",
    "env_log_format",
    "env_seconds",
    "env_secret_key",
    "environment_settings",
    "is_preview",
    "provider_table",
    "read_config_file",
    "read_toml",
    "redact",
    "resolve_database_url",
    "resolve_environment",
    "resolve_settings",
    "retention_settings",
    "sandboxed",
    "server_settings",
    "validate_environment",
]
