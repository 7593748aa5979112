"""``tidings doctor``: what is wrong with this deployment, and how to fix it.

Each check returns a :class:`Check` with a status and, unless all is well, a fix. The
checks read only: the database is opened without migrating it, secrets are reported as
present or missing and never printed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from tidings.app import Tidings
from tidings.errors import TidingsError
from tidings.retention import Retention, describe
from tidings.settings import env_database_url, env_secret_key, resolve_environment
from tidings.store import Store, open_store, redact_url
from tidings.store.ops import StuckRun

Status = Literal["ok", "warn", "fail", "skip"]
Clock = Callable[[], datetime]
SECRET_NAME = re.compile(r"(api_key|apikey|token|secret|password|passwd|auth|credential)", re.I)
SKEW_WARN = timedelta(seconds=1)
OVERDUE_AFTER = timedelta(minutes=5)
SHOWN = 5
"""Run ids listed per stuck-run finding."""


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None


@dataclass(frozen=True)
class Target:
    """What the checks look at: the app (if one is configured) and its database."""

    app: Tidings | None
    url: str
    environment: str
    lease: timedelta


def check_config(
    app_ref: str | None, database_url: str | None, env: str | None
) -> tuple[Check, Target | None]:
    from tidings.loader import load_app

    try:
        app = load_app(app_ref, database_url=database_url, environment=env)
    except TidingsError as exc:
        url = database_url or env_database_url()
        if url and "no app given" in str(exc):
            environment = resolve_environment(env)
            check = Check(
                "configuration",
                "warn",
                f"no app configured; checking {redact_url(url)} alone (task checks skipped)",
                "pass --app module:attribute or set $TIDINGS_APP to check the app too",
            )
            return check, Target(None, url, environment, timedelta(seconds=30))
        message = str(exc)
        if message.startswith("no app given"):
            message = "no app given and no database URL"
        return Check("configuration", "fail", message, _config_fix(str(exc))), None
    detail = (
        f"app with {len(app.tasks)} tasks, environment {app.environment}, "
        f"database {redact_url(app.database_url)}"
    )
    target = Target(app, app.database_url, app.environment, app.lease)
    return Check("configuration", "ok", detail), target


def _config_fix(message: str) -> str:
    if "no app given" in message:
        return 'pass --app module:attribute, set $TIDINGS_APP, or put app = "..." in tidings.toml'
    if "not found" in message or "importing" in message:
        return "run from your project's root, or fix the import error shown"
    return "correct the setting named above"


def open_database(target: Target) -> tuple[Check, Store | None]:
    url = target.url
    if url.startswith("sqlite:"):
        from tidings.store.urls import path_from_url

        path = path_from_url(url)
        if path != ":memory:" and not Path(path).exists():
            return Check(
                "database",
                "fail",
                f"{path} does not exist yet",
                "run `tidings migrate` (or start a worker) to create it, or check "
                "--database-url / $TIDINGS_DATABASE_URL and the working directory",
            ), None
    try:
        store = open_store(url)
    except TidingsError as exc:
        return Check(
            "database",
            "fail",
            str(exc),
            "check that the server runs and accepts this user, and the URL "
            "(--database-url, $TIDINGS_DATABASE_URL, tidings.toml)",
        ), None
    return Check("database", "ok", f"reachable: {redact_url(url)}"), store


def check_migrations(store: Store) -> Check:
    try:
        pending = store.pending_migrations()
    except TidingsError as exc:
        return Check(
            "migrations",
            "fail",
            str(exc),
            "upgrade tidings on this host to the version that migrated the database",
        )
    if pending:
        return Check(
            "migrations",
            "fail",
            f"{len(pending)} pending: {', '.join(pending)}",
            "run `tidings migrate` (before starting new workers; old ones keep working)",
        )
    return Check("migrations", "ok", "up to date")


def _providers(app: Tidings) -> list[tuple[str, object]]:
    """``(channel, provider)`` pairs of whatever the app configured, in any of the shapes
    a channel map takes (one provider or a failover list per channel)."""
    found: list[tuple[str, object]] = []
    for attribute in ("channels", "providers"):
        config = getattr(app, attribute, None)
        if isinstance(config, Mapping):
            for channel, value in config.items():
                items = value if isinstance(value, list | tuple) else [value]
                found += [(str(channel), p) for p in items if p is not None]
    return found


def _secret_fields(provider: object) -> Iterable[tuple[str, Any, bool]]:
    """``(name, value, optional)`` of every attribute that holds a credential."""
    if dataclasses.is_dataclass(provider):
        for f in dataclasses.fields(provider):
            if SECRET_NAME.search(f.name):
                optional = f.default is None
                yield f.name, getattr(provider, f.name, None), optional
        return
    for name, value in vars(provider).items():
        if SECRET_NAME.search(name.lstrip("_")) and (value is None or isinstance(value, str)):
            yield name.lstrip("_"), value, value is None


def check_credentials(target: Target) -> Check:
    app = target.app
    if app is None:
        return Check("credentials", "skip", "no app configured")
    missing, present = [], []
    for channel, provider in _providers(app):
        label = f"{channel}/{getattr(provider, 'name', type(provider).__name__)}"
        for name, value, optional in _secret_fields(provider):
            if isinstance(value, str) and value.strip():
                present.append(f"{label}.{name}")
            elif value is None and optional:
                continue  # an optional credential (a self-hosted gateway needs none)
            else:
                missing.append(f"{label}.{name}")
    if target.environment == "production" and not env_secret_key():
        missing.append("TIDINGS_SECRET_KEY (production signs inbox tokens and sessions with it)")
    if missing:
        return Check(
            "credentials",
            "fail",
            f"missing or empty: {', '.join(missing)}",
            "set them in the environment or tidings.toml of this host (values are never shown)",
        )
    if not present:
        return Check("credentials", "ok", "no external provider configured (outbox only)")
    return Check("credentials", "ok", f"present (values hidden): {', '.join(present)}")


def check_clock(store: Store, target: Target, clock: Clock) -> Check:
    if target.url.startswith("sqlite:"):
        return Check("clock", "ok", "SQLite uses this host's clock: no skew possible")
    before = clock()
    db_now = store.ops.database_now()
    after = clock()
    local = before + (after - before) / 2
    skew = (local - db_now).total_seconds()
    limit = target.lease / 3
    text = f"this host is {abs(skew):.3f}s {'ahead of' if skew >= 0 else 'behind'} the database"
    fix = (
        "synchronise clocks with NTP (timedatectl set-ntp true / chrony); tidings judges "
        "leases and due times in the database's time, but this host's logs, ctx.now() "
        "between two measurements of the offset and anything else reading its clock drift"
    )
    if abs(skew) >= limit.total_seconds():
        return Check("clock", "fail", f"{text} (limit {limit.total_seconds():g}s: lease/3)", fix)
    if abs(skew) >= SKEW_WARN.total_seconds():
        return Check("clock", "warn", text, fix)
    return Check("clock", "ok", text)


def _ids(runs: list[StuckRun], total: int) -> str:
    shown = ", ".join(f"{r.id} ({r.task_id}, queue {r.queue})" for r in runs[:SHOWN])
    return shown + (f" and {total - SHOWN} more" if total > SHOWN else "")


def check_stuck(store: Store, target: Target, clock: Clock, overdue_after: timedelta) -> Check:
    now = clock()
    # A live worker reclaims an expired lease at its next claim: one expired for two
    # lease lengths means no worker of that queue is alive.
    stuck = store.ops.stuck_runs(now - 2 * target.lease, now - overdue_after, SHOWN)
    problems, fixes = [], []
    if stuck.expired_count:
        grace = (2 * target.lease).total_seconds()
        runs = _ids(stuck.expired_leases, stuck.expired_count)
        problems.append(
            f"{stuck.expired_count} RUNNING with leases expired over {grace:g}s ago: {runs}"
        )
        fixes.append("their workers died: start `tidings worker` for those queues to resume them")
    if stuck.overdue_count:
        problems.append(
            f"{stuck.overdue_count} due over {overdue_after} ago and not picked up: "
            f"{_ids(stuck.overdue, stuck.overdue_count)}"
        )
        queues = sorted({r.queue for r in stuck.overdue})
        fixes.append(
            f"start `tidings worker` (with --queue {' --queue '.join(queues)} if workers "
            "are limited to some queues), or add workers if they cannot keep up"
        )
    known = set(target.app.tasks) if target.app is not None else None
    stuck_tasks = {r.task_id for r in stuck.expired_leases + stuck.overdue}
    if known is not None and (unknown := sorted(stuck_tasks - known)):
        fixes.append(
            f"tasks {', '.join(unknown)} are not in this app: deploy the code that defines "
            "them, or cancel those runs (`tidings runs cancel RUN_ID`)"
        )
    if problems:
        return Check("stuck runs", "fail", "; ".join(problems), "; ".join(fixes))
    return Check("stuck runs", "ok", "none: every due run is being picked up")


def check_alerts(store: Store, target: Target) -> Check | None:
    """Whether the app's alert rules can reach someone: each operator recipient exists
    (with an email address) and each task a rule watches is a task of the app. None when
    the app has no rules."""
    app = target.app
    if app is None or not app.alerts:
        return None
    problems, fixes = [], []
    for rule in app.alerts:
        if isinstance(rule.to, str):
            recipient = store.recipients.get(rule.to)
            if recipient is None:
                problems.append(f"{rule.on} alerts go to {rule.to!r}, who is not a recipient")
                fixes.append(f"app.recipients.upsert({rule.to!r}, email=...)")
            elif not recipient.email:
                problems.append(
                    f"{rule.on} alerts go to {rule.to!r}, who has no email (in-app only)"
                )
                fixes.append(f"give {rule.to!r} an email address")
        unknown = [t for t in rule.tasks or () if t not in app.kernel.tasks]
        if unknown:
            problems.append(f"{rule.on} watches unknown tasks {', '.join(unknown)}")
            fixes.append("name registered task ids in tasks=")
    if problems:
        return Check("alerts", "warn", "; ".join(problems), "; ".join(dict.fromkeys(fixes)))
    return Check("alerts", "ok", f"{len(app.alerts)} rules, each can be delivered")


PRUNE_LATE = timedelta(days=1)
"""No prune for longer than this while rows are past their retention: pruning is behind."""
_WINDOWED = ("runs", "events", "deliveries")
_WHAT = {
    "runs": "finished run",
    "events": "event",
    "deliveries": "notification",
    "outbox": "outbox message",
    "inbox": "inbox item",
}


def _age(delta: timedelta) -> str:
    days = delta.total_seconds() / 86_400
    return f"{days:.0f} days" if days >= 2 else f"{delta.total_seconds() / 3600:.0f} hours"


def check_retention(store: Store, target: Target, clock: Clock) -> Check:
    """Pruning is behind: a row older than twice its retention, or no prune for over a
    day while rows are past their retention."""
    app = target.app
    policy = app.retention if app is not None else Retention()
    if not policy.enabled:
        return Check("retention", "ok", "off: nothing is pruned (Retention.off())")
    now = clock()
    window = app.idempotency_ttl if app is not None else timedelta(hours=24)
    behind, due = [], 0
    for kind, period in policy.periods().items():
        if period is None:
            continue
        kept = max(period, window) if kind in _WINDOWED else period
        oldest = store.pruning.oldest(kind)
        if oldest is None or oldest >= now - kept:
            continue
        due += 1
        if oldest < now - 2 * kept:
            behind.append(
                f"the oldest {_WHAT[kind]} is {_age(now - oldest)} old, over twice the "
                f"{describe(kept)} kept"
            )
    last = store.pruning.last()
    last_text = "never" if last is None else f"{_age(now - last.finished_at)} ago"
    if due and (last is None or last.finished_at < now - PRUNE_LATE):
        behind.append(f"no prune for over a day (last: {last_text})")
    if behind:
        fix = (
            "keep a `tidings worker` running (it prunes hourly) or run `tidings prune`; "
            "if a prune runs but cannot keep up, run it more often"
        )
        return Check("retention", "warn", "pruning is behind: " + "; ".join(behind), fix)
    return Check("retention", "ok", f"pruning keeps up (last prune: {last_text})")


def run_checks(
    app_ref: str | None = None,
    database_url: str | None = None,
    env: str | None = None,
    *,
    clock: Clock | None = None,
    overdue_after: timedelta = OVERDUE_AFTER,
) -> list[Check]:
    """Every check, in order; later checks are skipped when what they need is broken."""
    now = clock or (lambda: datetime.now(UTC))
    config, target = check_config(app_ref, database_url, env)
    checks = [config]
    if target is None:
        return [
            *checks,
            *_skipped("database", "migrations", "credentials", "clock", "stuck runs", "retention"),
        ]
    database, store = open_database(target)
    checks.append(database)
    if store is None:
        return [
            *checks,
            *_skipped("migrations"),
            check_credentials(target),
            *_skipped("clock", "stuck runs", "retention"),
        ]
    try:
        migrations = check_migrations(store)
        checks += [migrations, check_credentials(target)]
        try:
            checks.append(check_clock(store, target, now))
        except TidingsError as exc:
            checks.append(Check("clock", "fail", str(exc), "see the database check"))
        if migrations.status == "ok":
            # leases and due times are in the database's time (PostgreSQL): judge them so
            local = clock is not None or target.url.startswith("sqlite:")
            stuck_now = now if local else store.ops.database_now
            checks.append(check_stuck(store, target, stuck_now, overdue_after))
            if (alerts := check_alerts(store, target)) is not None:
                checks.append(alerts)
            checks.append(check_retention(store, target, stuck_now))
        else:
            checks += _skipped("stuck runs", "retention")
    finally:
        store.close()
    return checks


def _skipped(*names: str) -> list[Check]:
    return [Check(name, "skip", "skipped: an earlier check failed") for name in names]


__all__ = ["Check", "run_checks"]
