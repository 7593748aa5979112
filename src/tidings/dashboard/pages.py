"""What each dashboard page shows: plain functions from the app and the query string to
a template context. They run in a thread (the store is synchronous) and never write.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tidings.alerting import LATENESS_KEEP, Webhook, lateness_quantile
from tidings.app import Tidings
from tidings.clock import clock_scale
from tidings.errors import ValidationError
from tidings.limits import check_name, check_timestamp
from tidings.records import Run, RunStatus
from tidings.store.dashboard import Cursor, RunFilter

PAGE_SIZE = 50
COUNT_CAP = 10_000
RANGES = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
WAIT_KINDS = ("sleep", "wait_for_event", "trigger_and_wait", "wait_for_token")


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps([cursor.at.isoformat(), cursor.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str | None) -> Cursor | None:
    if not text:
        return None
    try:
        at, run_id = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        when = check_timestamp(datetime.fromisoformat(at), "cursor")
        return Cursor(when, check_name(str(run_id), "cursor"))
    except (ValueError, TypeError) as exc:
        raise ValidationError("the page cursor is not valid; go back to the first page") from exc


def _time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{name} must be a date and time like 2026-03-01T09:00") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RunQuery:
    """The run list's query string, checked."""

    filter: RunFilter
    cursor: Cursor | None
    search: str
    params: dict[str, str]
    """The filters as given, to rebuild links (without the cursor)."""


def parse_run_query(app: Tidings, q: Mapping[str, str]) -> RunQuery:
    params = {k: v.strip() for k, v in q.items() if k not in ("cursor", "done") and v.strip()}
    status = params.get("status")
    if status is not None and status not in {s.value for s in RunStatus}:
        raise ValidationError(f"unknown status {status!r}")
    task = params.get("task")
    if task is not None and task not in app.tasks:
        raise ValidationError(f"unknown task {task!r}")
    since = _time(params.get("since"), "From")
    until = _time(params.get("until"), "To")
    if "range" in params:
        span = RANGES.get(params["range"])
        if span is None:
            raise ValidationError(f"unknown time range {params['range']!r}")
        since = app.clock.now() - span
    f = RunFilter(
        task_id=task,
        status=RunStatus(status) if status else None,
        since=since,
        until=until,
        tag=params.get("tag"),
        idempotency_key=params.get("key"),
    )
    return RunQuery(f, decode_cursor(q.get("cursor")), params.get("q", ""), params)


def runs_page(app: Tidings, q: Mapping[str, str]) -> dict[str, Any]:
    query = parse_run_query(app, q)
    store = app.store
    rows = store.dashboard.search_runs(query.filter, query.cursor, PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    next_cursor = encode_cursor(Cursor(rows[-1].created_at, rows[-1].id)) if more else None
    counts = store.dashboard.count_runs_by_status(query.filter, COUNT_CAP)
    return {
        "runs": rows,
        "counts": counts,
        "cap": COUNT_CAP,
        "windowed": query.filter.tag is not None,
        "next_cursor": next_cursor,
        "paged": query.cursor is not None,
        "params": query.params,
        "tasks": sorted(app.tasks),
        "statuses": [s.value for s in RunStatus],
        "ranges": list(RANGES),
    }


def run_page(app: Tidings, run_id: str) -> dict[str, Any] | None:
    store = app.store
    run = store.runs.get(run_id)
    if run is None:
        return None
    links = store.dashboard.run_links(run_id)
    children = _children(run)
    linked = store.dashboard.run_statuses(
        [c for c in children.values()]
        + ([links.parent_run_id] if links and links.parent_run_id else [])
    )
    return {
        "run": run,
        "links": links,
        "children": children,
        "linked": linked,
        "logs": store.runs.logs(run_id),
        "deliveries": store.dashboard.run_deliveries(run_id),
        "replay_of": run.replay_of,
        "can_cancel": not run.status.finished,
        "can_retry": _can_retry(app, run),
        "can_replay": run.task_id in app.tasks,
        "timeline": timeline(run),
    }


def _can_retry(app: Tidings, run: Run) -> bool:
    now = app.clock.now()
    if run.status is RunStatus.QUEUED:
        return run.run_at is not None and run.run_at > now
    if run.status is RunStatus.WAITING:
        return any(s.kind == "sleep" and s.status == "waiting" for s in run.steps)
    return False


def _children(run: Run) -> dict[str, str]:
    """Step name -> child run id, for the steps that triggered a run."""
    found: dict[str, str] = {}
    for step in run.steps:
        if step.kind == "trigger" and isinstance(step.result, str):
            found[step.name] = step.result
        elif step.kind == "trigger_and_wait" and isinstance(step.result, dict):
            child = step.result.get("child_run_id") or (step.result.get("data") or {}).get("run_id")
            if isinstance(child, str):
                found[step.name] = child
    return found


def timeline(run: Run) -> list[dict[str, Any]]:
    """Bars for the steps: offset and width as percentages of the run's span."""
    starts = [s.started_at for s in run.steps if s.started_at] + [run.created_at]
    origin = min(starts)
    ends = [s.finished_at or s.wake_at or s.started_at for s in run.steps]
    end = max([e for e in ends if e] + [run.finished_at or run.created_at, origin])
    span = max((end - origin).total_seconds(), 0.001)
    bars = []
    for s in run.steps:
        if s.started_at is None:
            continue
        stop = s.finished_at or s.wake_at or s.started_at
        left = (s.started_at - origin).total_seconds() / span * 100
        width = max((stop - s.started_at).total_seconds() / span * 100, 0.6)
        bars.append({"step": s, "left": round(left, 2), "width": round(min(width, 100 - left), 2)})
    return bars


def tasks_page(app: Tidings) -> dict[str, Any]:
    now = app.clock.now()
    stats = app.store.dashboard.task_stats(now - timedelta(days=1))
    schedules = app.store.schedules.all()
    rows = []
    for task in sorted(app.tasks.values(), key=lambda t: t.id):
        counts = stats.get(task.id, {})
        done = counts.get(RunStatus.COMPLETED, 0)
        failed = counts.get(RunStatus.FAILED, 0)
        described = task.payload_schema()
        schema = json.dumps(described, indent=2) if described is not None else None
        rows.append(
            {
                "task": task,
                "done": done,
                "failed": failed,
                "rate": None if done + failed == 0 else round(100 * done / (done + failed)),
                "schema": schema,
                "schedules": [s for s in schedules if s.task_id == task.id],
            }
        )
    return {"rows": rows, "schedules": schedules}


def events_page(app: Tidings, q: Mapping[str, str]) -> dict[str, Any]:
    name = q.get("name", "").strip() or None
    cursor = decode_cursor(q.get("cursor"))
    events = app.store.dashboard.list_events(name, cursor, PAGE_SIZE + 1)
    more = len(events) > PAGE_SIZE
    events = events[:PAGE_SIZE]
    ids = {r for e in events for r in e.run_ids} | {r for e in events for r, _ in e.resumed}
    return {
        "events": events,
        "linked": app.store.dashboard.run_statuses(sorted(ids)),
        "name": name or "",
        "next_cursor": (
            encode_cursor(Cursor(events[-1].received_at, events[-1].id)) if more else None
        ),
    }


OVERVIEW_WINDOWS = {"1h": ("hour", 12), "24h": ("day", 24), "7d": ("7 days", 28)}
"""The overview chart's windows (engine time): their name and how many bars they have."""
MIN_REAL_WINDOW = 60.0
"""Real seconds the default window lasts at least, on a clock running faster than real
time (the demo): at 3,600x an engine hour passes in a second, a week in 2.8 minutes."""


def default_window(scale: float) -> str:
    """The first window that lasts MIN_REAL_WINDOW real seconds at ``scale`` (else 7d)."""
    if scale <= 1:
        return "1h"
    for name in OVERVIEW_WINDOWS:
        if RANGES[name].total_seconds() / scale >= MIN_REAL_WINDOW:
            return name
    return "7d"


def overview_page(app: Tidings, q: Mapping[str, str]) -> dict[str, Any]:
    scale = clock_scale(app.clock)
    window = q.get("window") or default_window(scale)
    if window not in OVERVIEW_WINDOWS:
        raise ValidationError(f"unknown window {window!r}; use 1h, 24h or 7d")
    span = RANGES[window]
    label, buckets = OVERVIEW_WINDOWS[window]
    now = app.clock.now()
    ov = app.store.dashboard.overview(now, span, buckets, lookback=timedelta(days=1))
    counts = app.store.dashboard.count_runs_by_status(RunFilter(), COUNT_CAP)
    failing = app.store.dashboard.failing_providers(now - span)
    return {
        "lateness": timer_lateness(app, now, span),
        "alerts": alert_rules(app),
        "ov": ov,
        "window": window,
        "window_label": label,
        "windows": [(name, name_label) for name, (name_label, _) in OVERVIEW_WINDOWS.items()],
        "scale": scale,
        "counts": counts,
        "cap": COUNT_CAP,
        "chart": chart(ov, "%a %H:%M" if span > timedelta(days=1) else "%H:%M"),
        "failing": failing,
        "retention": retention_card(app),
    }


def retention_card(app: Tidings) -> dict[str, Any]:
    """The retention policy and what the latest prune deleted (overview)."""
    last = app.store.pruning.last()
    return {
        "enabled": app.retention.enabled,
        "policy": app.retention.describe(),
        "batch": app.retention.batch,
        "last": last,
        "counts": sorted((k, n) for k, n in (last.counts if last else {}).items() if n),
    }


def timer_lateness(app: Tidings, now: datetime, span: timedelta) -> dict[str, Any]:
    """p50 and p99 of timer lateness over the window (per-minute samples are kept a
    day, so a longer window shows the last day), from every worker's counts."""
    span = min(span, LATENESS_KEEP)
    since = (now - span).replace(second=0, microsecond=0)
    buckets = app.store.monitoring.lateness(since)
    return {
        "timers": sum(n for n, _ in buckets.values()),
        "p50": lateness_quantile(0.5, buckets),
        "p99": lateness_quantile(0.99, buckets),
        "span": span.total_seconds(),
    }


def alert_rules(app: Tidings) -> list[dict[str, Any]]:
    """The app's alert rules, where each goes and when it last fired."""
    if not app.alerts:
        return []
    fired = app.store.monitoring.last_fired()
    return [
        {
            "key": rule.key,
            "on": rule.on,
            "to": repr(rule.to) if isinstance(rule.to, Webhook) else rule.to,
            "every": rule.every.total_seconds() if isinstance(rule.every, timedelta) else 0,
            "last": fired.get(rule.key),
        }
        for rule in app.alerts
    ]


def chart(ov: Any, label_format: str = "%H:%M") -> dict[str, Any]:
    """Coordinates of a small bar chart (completed, failed) and a queue-depth line."""
    s = ov.series
    n = len(s.completed)
    top = max([c + f for c, f in zip(s.completed, s.failed, strict=True)] + s.queued + [1])
    width, height = 600, 140
    slot = width / n
    bars = []
    for i, (c, f) in enumerate(zip(s.completed, s.failed, strict=True)):
        hc, hf = c / top * height, f / top * height
        bars.append(
            {
                "x": round(i * slot + 2, 1),
                "w": round(slot - 4, 1),
                "yc": round(height - hc, 1),
                "hc": round(hc, 1),
                "yf": round(height - hc - hf, 1),
                "hf": round(hf, 1),
                "label": (s.start + timedelta(seconds=s.bucket_seconds * i)).strftime(label_format),
                "c": c,
                "f": f,
                "q": s.queued[i],
            }
        )
    line = " ".join(
        f"{round(i * slot + slot / 2, 1)},{round(height - q / top * height, 1)}"
        for i, q in enumerate(s.queued)
    )
    return {"bars": bars, "line": line, "width": width, "height": height, "top": top}


def bulk_filter(app: Tidings, q: Mapping[str, str]) -> dict[str, Any]:
    """The run list's filter (its query string) as ``app.runs`` takes it."""
    query = parse_run_query(app, q)
    if query.filter.idempotency_key is not None:
        raise ValidationError(
            "an idempotency key names one run: open it and act on it there, or clear the key"
        )
    f = query.filter
    return {
        "task": f.task_id,
        "status": None if f.status is None else f.status.value,
        "tags": None if f.tag is None else [f.tag],
        "created_after": f.since,
        "created_before": f.until,
    }


def bulk_page(app: Tidings, bulk_id: str) -> dict[str, Any] | None:
    try:
        return {"a": app.runs.bulk_action(bulk_id)}
    except LookupError:
        return None
