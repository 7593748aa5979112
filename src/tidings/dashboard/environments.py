"""The dashboards of several environments from one process, and the switcher between them.

``/dashboard/`` is the dashboard of the environment the process runs; each other
environment it is told to serve (``--dashboard-envs``, ``$TIDINGS_DASHBOARD_ENVS`` or
``dashboard_environments`` in ``[tidings]``) is at ``/dashboard/<name>/``, backed by its
own :class:`~tidings.Tidings` (the same tasks; that environment's database, secret and
sandbox rules from ``tidings.toml``, never the process's ``TIDINGS_*`` variables), made on
its first request and closed with the server. ``preview-*`` in the list serves every
preview environment that exists.

Each dashboard signs its sessions with its own environment's secret and name, under a
cookie name of its own: a session of one environment is never one of another.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette._utils import get_route_path
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tidings.app import Tidings
from tidings.dashboard.web import admin_key_check, dashboard, mountable
from tidings.errors import ConfigError, TidingsError
from tidings.settings import (
    PREVIEWS,
    STANDARD,
    default_database_url,
    environment_settings,
    is_preview,
    read_toml,
    sandboxed,
)
from tidings.store import redact_url
from tidings.store.admin import database_exists


def _same_database(a: str, b: str) -> bool:
    if a.startswith("sqlite:") and b.startswith("sqlite:"):
        from tidings.store.urls import path_from_url

        return os.path.realpath(path_from_url(a)) == os.path.realpath(path_from_url(b))
    return a == b


def environment_app(app: Tidings, name: str, data: dict[str, Any]) -> Tidings:
    """A Tidings for environment ``name`` with ``app``'s tasks and ``name``'s settings.

    It never migrates (a dashboard must not change another environment's schema) and
    refuses a database that is ``app``'s own: environments must not share one.
    """
    settings = environment_settings(name, data=data, env_vars=False)
    url = settings.database_url or default_database_url(name)
    if _same_database(url, app.database_url):
        raise ConfigError(
            f"environment {name!r} would use the database of {app.environment!r}: give it "
            f"its own database_url under [environments.{name}]"
        )
    try:
        exists = database_exists(url)
    except Exception as exc:
        raise ConfigError(
            f"the database of {name!r} ({redact_url(url)}) is unreachable: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if not exists:  # opening it would create an empty database
        raise ConfigError(
            f"the database of {name!r} ({redact_url(url)}) does not exist: "
            f"run `tidings migrate --env {name}`"
        )
    other = Tidings(
        url,
        environment=name,
        auto_migrate=False,
        secret_key=settings.secret_key,
        sandbox=settings.sandbox,
        sandbox_allow=settings.sandbox_allow,
    )
    # Tidings() falls back to $TIDINGS_SECRET_KEY, which is the process's environment's.
    other._secret_key = settings.secret_key.encode() if settings.secret_key else None
    other.kernel.adopt_tasks(app.kernel)
    return other


class EnvironmentDashboards:
    """ASGI app for ``/dashboard``: the own environment's dashboard, and the others below
    it at ``/<name>/``; ``/switch?env=<name>`` goes to one (the switcher's form)."""

    def __init__(
        self,
        app: Tidings,
        names: Sequence[str],
        *,
        password_hash: str | None = None,
        data: dict[str, Any] | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        self.app = app
        self.data = data if data is not None else read_toml()
        self.names = [n for n in names if n != PREVIEWS]
        self.previews = PREVIEWS in names
        self.poll_interval = poll_interval
        self._apps: dict[str, tuple[Tidings, ASGIApp]] = {}
        self._lock = threading.Lock()
        self._sandbox = {
            n: sandboxed(n, environment_settings(n, data=self.data, env_vars=False))
            for n in self.names
        }
        own_options: dict[str, Any] = {"poll_interval": poll_interval}
        if password_hash is None:  # $TIDINGS_DASHBOARD_PASSWORD_HASH, else tidings.toml
            with contextlib.suppress(ConfigError):  # mountable() explains a bad one
                own = environment_settings(app.environment, data=self.data)
                password_hash = own.dashboard_password_hash
        if password_hash is not None:
            own_options["password_hash"] = password_hash
        self.own = mountable(app, switcher=self.switcher, **own_options)

    # -- which environments --------------------------------------------------------------
    def preview_names(self) -> list[str]:
        """Preview environments that exist: configured tables and SQLite files found."""
        if not self.previews:
            return []
        tables = self.data.get("environments", {})
        found = {n for n in (tables if isinstance(tables, dict) else {}) if is_preview(n)}
        folder = Path(".tidings")
        if folder.is_dir():
            found |= {p.stem for p in folder.glob("preview-*.db") if is_preview(p.stem)}
        found.discard(self.app.environment)
        return sorted(found)

    def served(self) -> list[str]:
        """Every environment with a dashboard here, the process's own first."""
        order = {n: i for i, n in enumerate(STANDARD)}
        others = sorted(self.names, key=lambda n: (order.get(n, len(order)), n))
        return [self.app.environment, *others, *self.preview_names()]

    def _serves(self, name: str) -> bool:
        if name in self.names:
            return True
        return self.previews and is_preview(name) and name in self.preview_names()

    def switcher(self, request: Any) -> list[dict[str, Any]]:
        root = str(request.scope.get("tidings_dashboards", request.scope.get("root_path", "")))
        current = self.app.environment
        if (env := request.scope.get("tidings_dashboard_env")) is not None:
            current = env
        links = []
        for name in self.served():
            own = name == self.app.environment
            sandbox = self.app.sandboxed if own else self._sandbox_of(name)
            href = f"{root}/" if own else f"{root}/{name}/"
            links.append(
                {"name": name, "href": href, "sandbox": sandbox, "current": name == current}
            )
        return links

    def _sandbox_of(self, name: str) -> bool:
        if name not in self._sandbox:
            settings = environment_settings(name, data=self.data, env_vars=False)
            self._sandbox[name] = sandboxed(name, settings)
        return self._sandbox[name]

    # -- serving -------------------------------------------------------------------------
    def _dashboard_of(self, name: str) -> ASGIApp:
        with self._lock:
            if name not in self._apps:
                other = environment_app(self.app, name, self.data)
                settings = environment_settings(name, data=self.data, env_vars=False)
                asgi = dashboard(
                    other,
                    password_hash=settings.dashboard_password_hash or "",
                    key_check=admin_key_check(other),
                    cookie_suffix=f"_{name.replace('-', '_')}",
                    switcher=self.switcher,
                    poll_interval=self.poll_interval,
                )
                self._apps[name] = (other, asgi)
            return self._apps[name][1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.own(scope, receive, send)
            return
        root = str(scope.get("root_path", ""))
        path = get_route_path(scope)
        first, slash, _ = path.lstrip("/").partition("/")
        if path == "/switch":
            await self._switch(scope, root)(scope, receive, send)
            return
        if first == self.app.environment and first:
            await RedirectResponse(f"{root}/", status_code=307)(scope, receive, send)
            return
        if first and self._serves(first):
            if not slash:
                await RedirectResponse(f"{root}/{first}/", status_code=307)(scope, receive, send)
                return
            try:
                inner = await asyncio.to_thread(self._dashboard_of, first)
            except TidingsError as exc:
                response = PlainTextResponse(
                    f"The dashboard of {first} is unavailable: {exc}", status_code=503
                )
                await response(scope, receive, send)
                return
            scope = dict(
                scope,
                root_path=f"{root}/{first}",
                tidings_dashboards=root,
                tidings_dashboard_env=first,
            )
            await inner(scope, receive, send)
            return
        await self.own(dict(scope, tidings_dashboards=root), receive, send)

    def _switch(self, scope: Scope, root: str) -> Response:
        query = parse_qs(scope.get("query_string", b"").decode())
        name = (query.get("env") or [""])[0]
        if name == self.app.environment:
            return RedirectResponse(f"{root}/", status_code=303)
        if name and self._serves(name):
            return RedirectResponse(f"{root}/{name}/", status_code=303)
        return PlainTextResponse(
            f"no dashboard for environment {name!r} here (served: {', '.join(self.served())})",
            status_code=404,
        )

    def close(self) -> None:
        """Close the other environments' stores (the server calls this when it stops)."""
        with self._lock:
            apps, self._apps = list(self._apps.values()), {}
        for other, _ in apps:
            other.close()
