"""Finding the user's app: ``--app``, ``$TIDINGS_APP`` or ``tidings.toml``.

Precedence, highest first, for each setting:

- app: ``--app module:attribute``, ``$TIDINGS_APP``, ``app`` in ``tidings.toml``
- database URL: ``--database-url``, ``$TIDINGS_DATABASE_URL``, ``database_url`` in
  ``tidings.toml``, then whatever the app itself was constructed with
- environment: ``--env``, ``$TIDINGS_ENV``, ``environment`` in ``tidings.toml``, then the app's

``tidings.toml`` is read from the current directory only, under a ``[tidings]`` table.
"""

from __future__ import annotations

import importlib
import os
import sys
import tomllib
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

from tidings.app import Tidings
from tidings.environments import environment_settings
from tidings.errors import ConfigError

CONFIG_FILE = "tidings.toml"
_HOW = (
    'pass --app module:attribute, set $TIDINGS_APP, or put app = "module:attribute" '
    f"under [tidings] in ./{CONFIG_FILE}"
)


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
    # Defaults for every environment; see tidings.environments.EnvironmentSettings.
    secret_key: str | None = None
    sandbox: bool | None = None
    sandbox_allow: tuple[str, ...] = ()
    max_body_bytes: int | None = None
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


@dataclass(frozen=True)
class Settings:
    """What the CLI was told, after flags, environment variables and the file are merged."""

    app: str
    database_url: str | None
    environment: str | None


def read_config_file(directory: Path | None = None) -> FileSettings:
    """Read ``tidings.toml`` in ``directory`` (default: cwd); empty settings if absent."""
    path = (directory or Path.cwd()) / CONFIG_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return FileSettings()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    table = data.get("tidings", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: 'tidings' must be a table ([tidings]), not a value")
    try:
        return FileSettings.model_validate(table)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        known = ", ".join(FileSettings.model_fields)
        raise ConfigError(f"{path} [tidings]: {problems} (known keys: {known})") from None


def resolve_settings(
    app: str | None = None,
    *,
    database_url: str | None = None,
    environment: str | None = None,
    directory: Path | None = None,
) -> Settings:
    """Merge flags, ``TIDINGS_*`` variables and ``tidings.toml``; flags win."""
    # Read the file only when something is still missing, so a broken tidings.toml
    # does not stop a command that was given everything on the command line.
    env_app = os.environ.get("TIDINGS_APP") or None
    env_db = os.environ.get("TIDINGS_DATABASE_URL") or None
    env_env = os.environ.get("TIDINGS_ENV") or None
    file = FileSettings()
    if not ((app or env_app) and (database_url or env_db) and (environment or env_env)):
        file = read_config_file(directory)
    ref = app or env_app or file.app
    if not ref:
        raise ConfigError(f"no app given: {_HOW}")
    return Settings(
        app=ref,
        database_url=database_url or env_db or file.database_url,
        environment=environment or env_env or file.environment,
    )


def import_app(ref: str) -> Tidings:
    """Import ``module:attribute`` (attribute may be dotted) and check it is a Tidings app."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(
            f"app {ref!r} is not of the form module:attribute (e.g. myproject.tasks:app)"
        )
    # Like uvicorn: the project the command is run from is importable without installing it.
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    module = _import_module(module_name)
    target: object = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigError(
                f"module {module_name!r} ({getattr(module, '__file__', '?')}) has no "
                f"attribute {attr!r}"
            ) from None
    if not isinstance(target, Tidings):
        raise ConfigError(
            f"{ref} is a {type(target).__module__}.{type(target).__qualname__}, "
            "not a tidings.Tidings app"
        )
    return target


def _import_module(name: str) -> object:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        parents = {name.rsplit(".", i)[0] for i in range(name.count(".") + 1)}
        if exc.name in parents:
            raise ConfigError(
                f"module {name!r} not found (searched the current directory and sys.path); "
                "check the spelling or run from your project's root"
            ) from None
        raise _import_failed(name, exc) from None
    except Exception as exc:
        raise _import_failed(name, exc) from None


def _import_failed(name: str, exc: Exception) -> ConfigError:
    # One line naming the error and where it happened; the user's own module is at fault.
    frames = traceback.extract_tb(exc.__traceback__)
    where = next(
        (
            f" at {f.filename}:{f.lineno}"
            for f in reversed(frames)
            if "importlib" not in f.filename and "<frozen" not in f.filename
        ),
        "",
    )
    return ConfigError(f"importing {name!r} failed{where}: {type(exc).__name__}: {exc}")


def apply_overrides(
    app: Tidings, *, database_url: str | None = None, environment: str | None = None
) -> Tidings:
    """Point ``app`` at another database or environment (see ``Tidings.configure``)."""
    return app.configure(database_url=database_url, environment=environment)


def load_app(
    app: str | None = None,
    *,
    database_url: str | None = None,
    environment: str | None = None,
    directory: Path | None = None,
) -> Tidings:
    """Find, import and configure the app as the ``tidings`` command does.

    Raises:
        ConfigError: nothing names an app, the module or attribute is missing, it is not
            a ``Tidings``, ``tidings.toml`` is malformed, or an override is invalid.
    """
    settings = resolve_settings(
        app, database_url=database_url, environment=environment, directory=directory
    )
    found = import_app(settings.app)
    env = settings.environment or found.environment
    per_env = environment_settings(env, directory)
    url = settings.database_url
    if not (database_url or os.environ.get("TIDINGS_DATABASE_URL")):
        # The environment's own table (or the preview template) comes before [tidings].
        url = per_env.database_url or url
    loaded = apply_overrides(found, database_url=url, environment=settings.environment)
    # Settings the app's code left unset come from the environment's configuration.
    if loaded.sandbox is None and per_env.sandbox is not None:
        loaded.sandbox = per_env.sandbox
    if not loaded.sandbox_allow and per_env.sandbox_allow:
        loaded.sandbox_allow = per_env.sandbox_allow
    if loaded._secret_key is None and per_env.secret_key:
        loaded._secret_key = per_env.secret_key.encode()
    return loaded


__all__ = [
    "CONFIG_FILE",
    "FileSettings",
    "Settings",
    "apply_overrides",
    "import_app",
    "load_app",
    "read_config_file",
    "resolve_settings",
]
