"""Every failure answered as JSON ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from tidings.errors import (
    ConfigError,
    InvalidApiKeyError,
    StoreError,
    TidingsError,
    ValidationError,
)

log = logging.getLogger("tidings.server")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """An error the API answers with ``status`` and a JSON body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _HTTP_CODES.get(status, "error")
        self.message = message
        self.details = details
        self.headers = headers


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {
        "error": {
            "code": code or _HTTP_CODES.get(status, "error"),
            "message": message,
            "details": details,
        }
    }
    return JSONResponse(body, status_code=status, headers=dict(headers) if headers else None)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", ""))}
        for err in exc.errors()
    ]


def _body_problem(request: Request, exc: RequestValidationError) -> str | None:
    """Why the body could not be read as JSON at all, said plainly; None if it was."""
    errors = exc.errors()
    for err in errors:
        if err.get("type") == "json_invalid":
            loc = err.get("loc", ())
            at = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
            reason = (err.get("ctx") or {}).get("error") or "not JSON"
            where = f" at character {at + 1}" if at is not None else ""  # 1-based
            return f"the request body is not valid JSON: {reason}{where}"
    kind = request.headers.get("content-type", "")
    if "json" not in kind.lower() and any(
        tuple(err.get("loc", ()))[:1] == ("body",) for err in errors
    ):
        sent = f"it was sent as {kind.split(';')[0]!r}" if kind else "it had no Content-Type"
        return (
            f"the request body must be JSON sent with 'Content-Type: application/json' "
            f"({sent}; with curl add -H 'Content-Type: application/json')"
        )
    return None


def route_of(scope: Scope) -> str:
    """The matched route's template (``/api/v1/runs/{run_id}``), never the raw path:
    paths may hold keys (``/e/{key}``) and ids without bound."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(
            exc.status, exc.message, code=exc.code, details=exc.details, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        if message := _body_problem(request, exc):
            return error_response(422, message, details=details)
        # With a union of body shapes the deepest error is the one that names the field.
        first = max(details, key=lambda d: len(d["loc"]), default={"loc": [], "msg": "invalid"})
        where = ".".join(first["loc"]) or "request"
        return error_response(422, f"{where}: {first['msg']}", details=details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return error_response(exc.status_code, message, headers=exc.headers)

    @app.exception_handler(TidingsError)
    async def tidings_error(request: Request, exc: TidingsError) -> JSONResponse:
        status = status_of(exc)
        if status >= 500:
            log.error("%s %s failed: %s", request.method, route_of(request.scope), exc)
        return error_response(status, str(exc) or type(exc).__name__, code=_code_of(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, route_of(request.scope))
        return error_response(500, "internal error; see the server log")


def status_of(exc: TidingsError) -> int:
    if isinstance(exc, InvalidApiKeyError):
        return 401
    if isinstance(exc, LookupError):
        return 404
    if isinstance(exc, ValidationError):
        return 422
    if isinstance(exc, StoreError):
        return 503
    if isinstance(exc, ConfigError):
        return 500
    return 400


def _code_of(exc: TidingsError) -> str:
    if isinstance(exc, LookupError):
        return "not_found"
    return _HTTP_CODES.get(status_of(exc), "error")
