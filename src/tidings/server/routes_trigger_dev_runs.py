"""Trigger.dev's runs and schedules endpoints, for its official SDK (v3 and v4).

``runs.retrieve`` (``GET /api/v3/runs/{id}``, also with the run's ``x-trigger-jwt``
token), ``runs.cancel``, ``runs.reschedule``, ``runs.list`` (``GET /api/v1/runs``, the
path of tidings' own list, which hands SDK requests to :func:`list_runs` here) and
``schedules.*`` on tidings' keyed schedules. ``runs.replay`` needs nothing here: tidings'
own ``POST /api/v1/runs/{id}/replay`` already answers ``{"id"}``.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from tidings.app import Tidings
from tidings.errors import TidingsError
from tidings.notify.tokens import InvalidTokenError, verify_token
from tidings.records import Run, RunStatus, Schedule
from tidings.server.auth import bearer_token, require
from tidings.server.cursors import decode_cursor, encode_cursor
from tidings.server.errors import ApiError
from tidings.server.models_trigger_dev import (
    IdOut,
    RescheduleBody,
    ScheduleBody,
    ScheduleEnvironment,
    ScheduleGenerator,
    ScheduleList,
    ScheduleOut,
    SchedulePagination,
)
from tidings.server.routes_trigger_dev import RUN_TOKEN_PURPOSE, token_secret
from tidings.server.trigger_dev import (
    SDK_VERSION_HEADER,
    STATUS_FILTER,
    is_sdk_v3,
    parse_delay,
    retrieved_run,
    run_fields,
)
from tidings.store.keys import ApiKeyRecord

router = APIRouter(tags=["trigger.dev"])
Admin = Annotated[ApiKeyRecord, Depends(require("admin"))]
RunId = Annotated[str, Path(min_length=1, max_length=255)]
ScheduleId = Annotated[str, Path(min_length=1, max_length=255)]

_UNSUPPORTED_FILTERS = ("version", "bulkAction", "schedule", "batch", "queue", "machine", "region")
_PERIOD_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _app(request: Request) -> Tidings:
    app: Tidings = request.app.state.tidings
    return app


def _v3(request: Request) -> bool:
    return is_sdk_v3(request.headers.get(SDK_VERSION_HEADER))


async def _reader(request: Request, run_id: RunId) -> None:
    """An admin key, or the run-scoped token ``tasks.trigger`` answered for this run."""
    token = bearer_token(request)
    auth = request.app.state.auth
    if token.startswith("tk_"):
        await auth.check(token, "admin")
        return
    app = _app(request)
    secret = await token_secret(request)
    if secret is None:
        raise ApiError(401, "run tokens need a signing secret ($TIDINGS_SECRET_KEY); use a key")
    try:
        subject = verify_token(
            secret,
            token,
            environment=app.environment,
            now=app.clock.now(),
            purpose=RUN_TOKEN_PURPOSE,
        )
    except InvalidTokenError as exc:
        raise ApiError(401, f"invalid API key or run token: {exc}") from None
    if subject != run_id:
        raise ApiError(403, "this run token reads another run")
    auth.limit(f"run-token:{run_id}")


@router.get(
    "/api/v3/runs/{run_id}",
    summary="Trigger.dev runs.retrieve: the run, its payload and output",
    dependencies=[Depends(_reader)],
)
async def retrieve_run(request: Request, run_id: RunId) -> dict[str, Any]:
    app = _app(request)
    run = await app.get_run_async(run_id)
    return retrieved_run(run, app.clock.now(), _v3(request))


@router.post(
    "/api/v2/runs/{run_id}/cancel",
    response_model=IdOut,
    summary="Trigger.dev runs.cancel (a finished run is left as it is)",
)
async def cancel_run(request: Request, run_id: RunId, key: Admin) -> IdOut:
    await _app(request).cancel_async(run_id)
    return IdOut(id=run_id)


@router.post(
    "/api/v1/runs/{run_id}/reschedule",
    summary="Trigger.dev runs.reschedule: a delayed run that has not started, to a new time",
)
async def reschedule_run(
    request: Request, run_id: RunId, body: RescheduleBody, key: Admin
) -> dict[str, Any]:
    app = _app(request)
    now = app.clock.now()
    when = (
        body.delay
        if isinstance(body.delay, datetime)
        else parse_delay(body.delay, "body.delay", now)
    )
    if when is None or when.tzinfo is None:
        raise ApiError(422, "body.delay: give a duration like '1h' or a time with an offset")
    try:
        run = await app.reschedule_async(run_id, when)
    except TidingsError as exc:
        if isinstance(exc, LookupError):
            raise
        raise ApiError(422, str(exc), code="not_delayed") from None
    return retrieved_run(run, app.clock.now(), _v3(request))


def is_sdk_list(request: Request) -> bool:
    """A ``GET /api/v1/runs`` from the SDK: its version header or its query shape."""
    if SDK_VERSION_HEADER in request.headers:
        return True
    return any(k.startswith(("filter[", "page[")) for k in request.query_params)


def _csv(request: Request, name: str) -> list[str]:
    values: list[str] = []
    for raw in request.query_params.getlist(name):
        values += [v.strip() for v in raw.split(",") if v.strip()]
    return values


def _time(raw: str, field: str) -> datetime:
    try:
        if raw.isdigit():
            return datetime.fromtimestamp(int(raw) / 1000, UTC)
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise ApiError(
            422, f"{field}: {raw!r} is not a time (ms since epoch or ISO 8601)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class _ListFilter:
    """The ``filter[...]`` query of ``runs.list``: pushed down where the store can."""

    def __init__(self, request: Request, now: datetime) -> None:
        for name in _UNSUPPORTED_FILTERS:
            if f"filter[{name}]" in request.query_params:
                raise ApiError(422, f"filter[{name}] is not supported by tidings' runs.list")
        statuses: set[RunStatus] = set()
        self.sdk_statuses = {s.upper() for s in _csv(request, "filter[status]")}
        for name in self.sdk_statuses:
            if name not in STATUS_FILTER:
                raise ApiError(422, f"filter[status]: unknown status {name!r}")
            statuses.update(STATUS_FILTER[name])
        self.statuses = sorted(statuses) if self.sdk_statuses else None
        self.tasks = _csv(request, "filter[taskIdentifier]")
        self.tags = set(_csv(request, "filter[tag]"))
        self.since = self._since(request, now)
        until = request.query_params.get("filter[createdAt][to]")
        self.until = None if until is None else _time(until, "filter[createdAt][to]")
        self.only_tests = request.query_params.get("filter[isTest]") == "true"

    @staticmethod
    def _since(request: Request, now: datetime) -> datetime | None:
        period = request.query_params.get("filter[createdAt][period]")
        if period:
            unit = _PERIOD_UNITS.get(period[-1:])
            if unit is None or not period[:-1].isdigit():
                raise ApiError(422, f"filter[createdAt][period]: {period!r} is not like '7d'")
            return now - timedelta(seconds=int(period[:-1]) * unit)
        since = request.query_params.get("filter[createdAt][from]")
        return None if since is None else _time(since, "filter[createdAt][from]")

    def keeps(self, run: Run, status: str) -> bool:
        return (
            not self.only_tests
            and (not self.tasks or run.task_id in self.tasks)
            and self.tags <= set(run.tags)
            and (self.since is None or run.created_at >= self.since)
            and (self.until is None or run.created_at < self.until)
            and (not self.sdk_statuses or status in self.sdk_statuses)
        )


async def list_runs(request: Request) -> dict[str, Any]:
    """``runs.list``: newest first, ``{data, pagination: {next}}`` with ``page[after]``."""
    app = _app(request)
    now = app.clock.now()
    v3 = _v3(request)
    wanted = _ListFilter(request, now)
    size = request.query_params.get("page[size]", "25")
    if not size.isdigit() or not 1 <= int(size) <= 100:
        raise ApiError(422, "page[size] must be a whole number from 1 to 100")
    limit = int(size)
    after = request.query_params.get("page[after]")
    cursor = decode_cursor(after) if after else None
    task = wanted.tasks[0] if len(wanted.tasks) == 1 else None
    data: list[dict[str, Any]] = []
    last: Run | None = None
    more = True
    # Filters the store cannot apply are applied here, reading on until the page is full.
    for _ in range(20):
        runs = await asyncio.to_thread(
            app.store.runs.page, task, wanted.statuses, cursor, limit + 1
        )
        more = len(runs) > limit
        for run in runs[:limit]:
            last = run
            fields = run_fields(run, now, v3)
            if wanted.keeps(run, fields["status"]):
                data.append({**fields, "env": {"id": app.environment, "name": app.environment}})
                if len(data) == limit:
                    break
        if len(data) == limit or not more or last is None:
            break
        cursor = (last.created_at, last.id)
    pagination: dict[str, str] = {}
    if more and last is not None:
        pagination["next"] = encode_cursor(last.created_at, last.id)
    return {"data": data, "pagination": pagination}


# -- schedules ---------------------------------------------------------------------------
def _schedule_out(app: Tidings, s: Schedule) -> ScheduleOut:
    external = s.payload.get("externalId") if isinstance(s.payload, dict) else None
    return ScheduleOut(
        id=s.id,
        task=s.task_id,
        active=not s.paused,
        deduplicationKey=s.key,
        externalId=external,
        generator=ScheduleGenerator(expression=s.cron, description=f"cron {s.cron}"),
        timezone=s.timezone,
        nextRun=None if s.paused else s.next_run_at,
        environments=[ScheduleEnvironment(id=app.environment, type=app.environment.upper())],
        type="DECLARATIVE" if s.static else "IMPERATIVE",
    )


async def _find(app: Tidings, schedule_id: str) -> Schedule:
    for s in await app.schedules.list_async():
        if s.id == schedule_id:
            return s
    raise ApiError(404, f"no schedule with id {schedule_id!r}")


async def _save(app: Tidings, body: ScheduleBody, key: str | None) -> ScheduleOut:
    payload = None if body.externalId is None else {"externalId": body.externalId}
    saved = await app.schedules.create_async(
        body.task, body.cron, timezone=body.timezone or "UTC", key=key, payload=payload
    )
    return _schedule_out(app, saved)


@router.post("/api/v1/schedules", response_model=ScheduleOut, summary="schedules.create")
async def create_schedule(request: Request, body: ScheduleBody, key: Admin) -> ScheduleOut:
    if body.deduplicationKey is None:
        raise ApiError(422, "body.deduplicationKey: required (one schedule per key)")
    return await _save(_app(request), body, body.deduplicationKey)


@router.get("/api/v1/schedules", response_model=ScheduleList, summary="schedules.list")
async def list_schedules(
    request: Request,
    key: Admin,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    perPage: Annotated[int, Query(ge=1, le=100)] = 25,
) -> ScheduleList:
    app = _app(request)
    every = await app.schedules.list_async()
    chunk = every[(page - 1) * perPage : page * perPage]
    return ScheduleList(
        data=[_schedule_out(app, s) for s in chunk],
        pagination=SchedulePagination(
            currentPage=page, totalPages=max(1, math.ceil(len(every) / perPage)), count=len(every)
        ),
    )


@router.get(
    "/api/v1/schedules/{schedule_id}", response_model=ScheduleOut, summary="schedules.retrieve"
)
async def retrieve_schedule(request: Request, schedule_id: ScheduleId, key: Admin) -> ScheduleOut:
    app = _app(request)
    return _schedule_out(app, await _find(app, schedule_id))


@router.put(
    "/api/v1/schedules/{schedule_id}", response_model=ScheduleOut, summary="schedules.update"
)
async def update_schedule(
    request: Request, schedule_id: ScheduleId, body: ScheduleBody, key: Admin
) -> ScheduleOut:
    app = _app(request)
    found = await _find(app, schedule_id)
    if found.key is None or found.static:
        raise ApiError(422, f"schedule {schedule_id} has no deduplication key to update it by")
    return await _save(app, body, found.key)


@router.delete("/api/v1/schedules/{schedule_id}", response_model=IdOut, summary="schedules.del")
async def delete_schedule(request: Request, schedule_id: ScheduleId, key: Admin) -> IdOut:
    app = _app(request)
    await _find(app, schedule_id)
    await app.schedules.delete_async(schedule_id)
    return IdOut(id=schedule_id)


@router.post(
    "/api/v1/schedules/{schedule_id}/activate",
    response_model=ScheduleOut,
    summary="schedules.activate",
)
async def activate_schedule(request: Request, schedule_id: ScheduleId, key: Admin) -> ScheduleOut:
    app = _app(request)
    await _find(app, schedule_id)
    return _schedule_out(app, await app.schedules.resume_async(schedule_id))


@router.post(
    "/api/v1/schedules/{schedule_id}/deactivate",
    response_model=ScheduleOut,
    summary="schedules.deactivate",
)
async def deactivate_schedule(request: Request, schedule_id: ScheduleId, key: Admin) -> ScheduleOut:
    app = _app(request)
    await _find(app, schedule_id)
    return _schedule_out(app, await app.schedules.pause_async(schedule_id))
