"""Finding, importing and configuring the user's app, as the ``tidings`` command does.

Which app, database and environment: ``--app`` / ``--database-url`` / ``--env``, then
``$TIDINGS_APP`` / ``$TIDINGS_DATABASE_URL`` / ``$TIDINGS_ENV``, then ``tidings.toml``
(see :mod:`tidings.settings`, which reads all of them), then what the app itself was
constructed with.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from pathlib import Path

from tidings.app import Tidings
from tidings.errors import ConfigError
from tidings.settings import (
    alert_rules,
    environment_settings,
    resolve_settings,
    retention_settings,
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
    # A flag or $TIDINGS_DATABASE_URL wins; else the environment's own table (or the
    # preview template) comes before [tidings].
    url = settings.explicit_database_url or per_env.database_url or settings.database_url
    loaded = apply_overrides(found, database_url=url, environment=settings.environment)
    # Settings the app's code left unset come from the environment's configuration.
    if loaded.sandbox is None and per_env.sandbox is not None:
        loaded.sandbox = per_env.sandbox
    if not loaded.sandbox_allow and per_env.sandbox_allow:
        loaded.sandbox_allow = per_env.sandbox_allow
    if loaded._secret_key is None and per_env.secret_key:
        loaded._secret_key = per_env.secret_key.encode()
    if not loaded.alerts and (rules := alert_rules(per_env)):
        loaded.configure(alerts=rules)
    # The file's policy applies unless the code gave one (not marked as given: the
    # file may change before the next load)
    if not loaded._retention_given and (retention := retention_settings(directory)) is not None:
        loaded.kernel.retention = retention
    return loaded


__all__ = ["apply_overrides", "import_app", "load_app"]
