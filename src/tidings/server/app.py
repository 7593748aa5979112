"""The ASGI application: the HTTP API of one tidings app and environment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry

from tidings import __version__, redaction
from tidings.app import Tidings
from tidings.dashboard.environments import EnvironmentDashboards
from tidings.errors import ConfigError
from tidings.server import metrics
from tidings.server.auth import Authenticator
from tidings.server.errors import error_response, install_error_handlers
from tidings.server.middleware import BodyLimit, HttpMetrics
from tidings.server.models import ErrorEnvelope, Health
from tidings.server.realtime import InboxHub
from tidings.server.routes_answers import router as answers_router
from tidings.server.routes_events import router as events_router
from tidings.server.routes_inbox import router as inbox_router
from tidings.server.routes_notify import router as notify_router
from tidings.server.routes_preferences import api as preferences_api
from tidings.server.routes_preferences import pages as preferences_pages
from tidings.server.routes_retention import router as retention_router
from tidings.server.routes_runs import router as runs_router
from tidings.server.routes_trigger_dev import router as trigger_dev_router
from tidings.server.routes_trigger_dev_runs import router as trigger_dev_runs_router
from tidings.server.routes_webhooks import router as webhooks_router
from tidings.settings import ServerSettings, dashboard_environments
from tidings.store import open_store

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": text}
    for status, text in (
        (401, "Missing or invalid API key."),
        (403, "The key's scope does not allow this."),
        (404, "No such task or run."),
        (413, "Request body too large."),
        (422, "Invalid request."),
        (429, "Rate limited; see Retry-After."),
    )
}


def create_app(
    app: Tidings,
    settings: ServerSettings | None = None,
    *,
    dashboard_envs: Sequence[str] | None = None,
) -> FastAPI:
    """The HTTP API serving ``app`` (its environment, database and tasks).

    ``dashboard_envs``: other environments whose dashboards are served at
    ``/dashboard/<name>/`` (default ``$TIDINGS_DASHBOARD_ENVS``, else
    ``dashboard_environments`` in tidings.toml, else none); see
    :mod:`tidings.dashboard.environments`.
    """
    settings = settings or ServerSettings.from_env()
    redaction.install()  # keys in paths (/e/{key}) and tokens never reach a log line
    dashboards = EnvironmentDashboards(app, dashboard_environments(app.environment, dashboard_envs))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await asyncio.to_thread(dashboards.close)

    api = FastAPI(
        lifespan=lifespan,
        title="tidings",
        version=__version__,
        description="Durable workflows and notifications over HTTP. "
        'Every error is JSON {"error": {"code", "message", "details"}}.',
        responses=_ERRORS,
    )
    registry = CollectorRegistry(auto_describe=True)
    registry.register(metrics.StoreCollector(app))
    api.state.tidings = app
    api.state.settings = settings
    api.state.auth = Authenticator(app, settings)
    install_error_handlers(api)
    api.include_router(events_router)
    api.include_router(runs_router)
    api.include_router(retention_router)
    api.include_router(trigger_dev_router)
    api.include_router(trigger_dev_runs_router)
    api.include_router(notify_router)
    api.include_router(inbox_router)
    api.include_router(answers_router)
    api.include_router(preferences_pages)
    api.include_router(preferences_api)
    api.include_router(webhooks_router)
    api.state.inbox_hub = InboxHub(app)
    _inbox_script(api)
    _favicon(api)
    _health_routes(api, app, registry)
    api.state.dashboards = dashboards  # the CLI closes it when uvicorn runs without lifespan
    api.mount("/dashboard", dashboards)
    # Added innermost first: CORS answers preflights before the body limit is consulted.
    api.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    if settings.cors_origins:
        api.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
            max_age=600,
        )
    api.add_middleware(HttpMetrics, registry=registry)
    return api


def _health_routes(api: FastAPI, app: Tidings, registry: CollectorRegistry) -> None:
    @api.get("/healthz", response_model=Health, tags=["health"], summary="The process is up")
    async def healthz() -> Health:
        return Health(status="ok", environment=app.environment)

    @api.get(
        "/readyz",
        response_model=Health,
        tags=["health"],
        summary="The database is reachable and its migrations are current",
        responses={503: {"model": ErrorEnvelope, "description": "Not ready."}},
    )
    async def readyz() -> Any:
        try:
            pending = await asyncio.to_thread(_pending_migrations, app)
        except Exception as exc:
            return error_response(503, f"database unreachable: {type(exc).__name__}: {exc}")
        if pending:
            return error_response(
                503,
                "database needs migrations: run `tidings migrate`",
                code="migrations_pending",
                details={"pending_migrations": pending},
            )
        return Health(status="ready", environment=app.environment, pending_migrations=[])

    @api.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    async def metrics_endpoint(request: Request) -> Response:
        body = await asyncio.to_thread(metrics.render, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @api.get("/", include_in_schema=False)
    async def root() -> JSONResponse:
        return JSONResponse({"name": "tidings", "version": __version__, "docs": "/docs"})


def _pending_migrations(app: Tidings) -> list[str]:
    try:
        return app.store.pending_migrations()
    except ConfigError:  # auto_migrate=False and migrations pending: the store stays closed
        store = open_store(app.database_url)
        try:
            return store.pending_migrations()
        finally:
            store.close()


def _favicon(api: FastAPI) -> None:
    """The icon browsers ask every site for (the dashboard's pages also link its SVG)."""
    icon = resources.files("tidings.dashboard").joinpath("static/favicon.ico")

    @api.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        body = await asyncio.to_thread(icon.read_bytes)
        return Response(
            body, media_type="image/x-icon", headers={"Cache-Control": "public, max-age=86400"}
        )


def _inbox_script(api: FastAPI) -> None:
    """``/inbox.js`` (the embeddable inbox) and ``/inbox.d.ts`` (its TypeScript types)."""
    static = resources.files("tidings.server").joinpath("static")
    served = {
        "/inbox.js": ("inbox.js", "text/javascript; charset=utf-8"),
        "/inbox.d.ts": ("inbox.d.ts", "application/typescript; charset=utf-8"),
    }
    for path, (name, media_type) in served.items():
        _static_file(api, path, static.joinpath(name), media_type)


def _static_file(api: FastAPI, path: str, source: Any, media_type: str) -> None:
    @api.get(path, include_in_schema=False)
    async def static_file() -> Response:
        body = await asyncio.to_thread(source.read_bytes)
        return Response(
            body, media_type=media_type, headers={"Cache-Control": "public, max-age=300"}
        )
