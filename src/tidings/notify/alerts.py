"""Alerts: the built-in ``tidings.alerts`` task that evaluates the app's :class:`Alert`
rules once a minute, and ``tidings.alert.send`` that delivers one fired alert.

Evaluation is a scheduled task rather than a hook on the failure path: every condition
but ``run.failed`` is a measurement over a window that nothing else triggers, and the
failure path runs in the worker's commit, where a send (or a slow webhook) must never
be. A minute's delay on ``run.failed`` buys one place where all four are judged alike.

**Once per window, across every worker.** Windows are ``every`` long, counted from the
Unix epoch. When a rule's condition holds, its step claims the current window in the
store with a conditional UPDATE (``alert_windows``, migration 0022) that only one run
can win; the winner stores what it found with the claim and starts one run of
``tidings.alert.send`` (idempotency key ``alert:<rule>:<window>``). A run re-executed
after a crash wins its own claim again and gets the stored figures back, so nothing is
lost or sent twice. ``run.failed`` looks at the failures since the rule last fired:
failures during a window that already fired are reported when the next window opens.

**Delivery.** To an operator recipient: a ``tidings.alert`` notification (critical:
email and in-app, templates shipped with tidings) through the app's own channels, with
the window as its dedup key. To a :class:`Webhook`: one POST in a durable step (retried
by the task's policy), signed like Svix / Standard Webhooks (``webhook-id`` the same on
every retry of one alert), whose JSON has a ``text`` field so a Slack incoming webhook
URL accepts it, plus the structured ``alert`` object.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tidings.alerting import (
    DELIVERIES_FAILING,
    QUEUE_BACKLOG,
    RUN_FAILED,
    TIMERS_LATE,
    Alert,
    Webhook,
    check_alerts,
    lateness_quantile,
)
from tidings.errors import NonRetriableError
from tidings.kernel import Kernel, TaskContext
from tidings.kernel.schedules import with_cron
from tidings.notify.steps import NotifySteps
from tidings.notify.urls import RecipientLinks
from tidings.options import Retry
from tidings.providers.webhooks import svix_sign
from tidings.records import NotifyResult
from tidings.tasks import TaskDef, make_task

ALERTS_TASK = "tidings.alerts"
"""The built-in task that evaluates the rules (every minute, registered with rules)."""
SEND_TASK = "tidings.alert.send"
"""The built-in task that delivers one fired alert."""
ALERT_TYPE = "tidings.alert"
"""The built-in notification type an operator recipient gets (email and in-app)."""
ALERTS_CRON = "* * * * *"
TEMPLATES = Path(__file__).parent / "alert_templates"
LISTED_RUNS = 10
"""Failed runs named in one ``run.failed`` alert (the count covers them all)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SETTLE = timedelta(seconds=5)
"""``run.failed`` looks at failures up to this long ago: a failure is stamped when its
attempt ends and committed a moment later, and one committed after the rule looked
past its time would never be reported."""


class AlertService:
    """The app's alert rules and the two built-in tasks that act on them."""

    def __init__(self, kernel: Kernel, steps: NotifySteps, links: RecipientLinks) -> None:
        self.kernel = kernel
        self.steps = steps
        self.notifications = steps.service
        self.links = links
        self.rules: dict[str, Alert] = {}

    def configure(self, alerts: Sequence[Alert] | None) -> None:
        """Replace the rules (checked first: a bad one changes nothing). The built-in
        tasks are registered while there are rules, and removed when there are none, so
        an app without alerts runs no task every minute."""
        rules = check_alerts(alerts)
        self.rules = {rule.key: rule for rule in rules}
        if not rules:
            for task_id in (ALERTS_TASK, SEND_TASK):
                self.kernel.tasks.pop(task_id, None)
                self.kernel.internal.discard(task_id)
            return
        for task in self._tasks():
            self.kernel.register(task, internal=True)
        if any(isinstance(rule.to, str) for rule in rules):
            self.notifications.register(
                ALERT_TYPE, channels=("email", "in_app"), critical=True, templates=TEMPLATES
            )

    def _tasks(self) -> list[TaskDef]:
        evaluate = make_task(
            self._evaluate_task, id=ALERTS_TASK, retry=Retry(max_attempts=3),
            queue="default", priority=0, timeout=None,
        )  # fmt: skip
        send = make_task(
            self._send_task, id=SEND_TASK, retry=Retry(max_attempts=8, maximum=300),
            queue="default", priority=0, timeout=None,
        )  # fmt: skip
        return [with_cron(evaluate, ALERTS_CRON, "UTC", "latest"), send]

    # -- evaluation ---------------------------------------------------------------------
    async def _evaluate_task(self, ctx: TaskContext) -> dict[str, Any]:
        fired: dict[str, int] = {}
        now = ctx.now()
        for key, rule in sorted(self.rules.items()):
            window = window_of(rule, now)
            got = await ctx.step(f"check {key}", self.check, key, window, ctx.run_id, now)
            if got is not None:
                fired[key] = window
        return {"fired": fired}

    def check(self, key: str, window: int, run_id: str, now: datetime) -> dict[str, Any] | None:
        """Judge the rule ``key`` now; if its condition holds and ``window`` is still
        open, claim it and start the send. The figures sent, or None. (A step body: on
        a database thread.)"""
        rule = self.rules[key]
        figures = self.measure(rule, now)
        if figures is None:
            return None
        seen = now - SETTLE if rule.on == RUN_FAILED else now
        fired = self.kernel.store.monitoring.claim_window(
            key, window, run_id, json.dumps(figures), now, seen
        )
        if fired is None:
            return None
        stored: dict[str, Any] = json.loads(fired.figures)
        payload = {"key": key, "window": window, "figures": stored}
        new = self.kernel.new_run(SEND_TASK, payload, idempotency_key=f"alert:{key}:{window}")
        self.kernel.create_run(new)
        return stored

    def measure(self, rule: Alert, now: datetime) -> dict[str, Any] | None:
        """What the rule's condition finds now, or None when it does not hold."""
        if rule.on == RUN_FAILED:
            return self._failed_runs(rule, now)
        if rule.on == DELIVERIES_FAILING:
            return self._failing_deliveries(rule, now)
        if rule.on == TIMERS_LATE:
            return self._late_timers(rule, now)
        assert rule.on == QUEUE_BACKLOG
        return self._backlog(rule, now)

    def _failed_runs(self, rule: Alert, now: datetime) -> dict[str, Any] | None:
        store = self.kernel.store.monitoring
        every = _td(rule.every)
        until = now - SETTLE
        since = store.seen_until(rule.key) or until - every
        count, runs = store.failed_runs(
            since, until, rule.tasks, (ALERTS_TASK, SEND_TASK), LISTED_RUNS
        )
        if not count:
            return None
        return {
            "failed": count,
            "since": since.isoformat(),
            "tasks": list(rule.tasks) if rule.tasks else None,
            "runs": [
                {"id": r.id, "task": r.task_id, "error": r.error,
                 "finished_at": r.finished_at.isoformat()}
                for r in runs
            ],
        }  # fmt: skip

    def _failing_deliveries(self, rule: Alert, now: datetime) -> dict[str, Any] | None:
        window, threshold = _td(rule.window), float(rule.threshold)  # type: ignore[arg-type]
        outcomes = self.kernel.store.monitoring.delivery_outcomes(now - window, rule.provider)
        failing = [
            {"provider": name, "failed": failed, "finished": finished,
             "rate": round(failed / finished, 4)}
            for name, (failed, finished) in sorted(outcomes.items())
            if finished and failed / finished > threshold
        ]  # fmt: skip
        if not failing:
            return None
        return {"providers": failing, "threshold": threshold, "window": window.total_seconds()}

    def _late_timers(self, rule: Alert, now: datetime) -> dict[str, Any] | None:
        window, threshold = _td(rule.window), _td(rule.threshold)
        buckets = self.kernel.store.monitoring.lateness(_minute(now - window))
        p99 = lateness_quantile(0.99, buckets)
        if p99 is None or p99 <= threshold.total_seconds():
            return None
        return {
            "p50": lateness_quantile(0.5, buckets),
            "p99": p99,
            "timers": sum(n for n, _ in buckets.values()),
            "threshold": threshold.total_seconds(),
            "window": window.total_seconds(),
        }

    def _backlog(self, rule: Alert, now: datetime) -> dict[str, Any] | None:
        threshold = _td(rule.threshold)
        depth, oldest = self.kernel.store.runs.queue_stats(now)
        if oldest is None or now - oldest <= threshold:
            return None
        return {
            "due": depth,
            "oldest_due_at": oldest.isoformat(),
            "waited": (now - oldest).total_seconds(),
            "threshold": threshold.total_seconds(),
        }

    # -- delivery -----------------------------------------------------------------------
    async def _send_task(self, ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
        key, window = str(payload["key"]), int(payload["window"])
        rule = self.rules.get(key)
        if rule is None:
            raise NonRetriableError(
                f"alert rule {key!r} is no longer configured; its alert of window {window} "
                "was not sent"
            )
        message = self.message(rule, window, payload["figures"])
        if isinstance(rule.to, Webhook):
            hook = rule.to
            status = await ctx.step("post webhook", self._post, hook, key, window, message)
            return {"webhook": status}
        result = await self.steps.notify(
            ctx, ALERT_TYPE, to=rule.to, data=message, channels=None,
            dedup_key=f"alert:{key}:{window}", name="notify",
        )  # fmt: skip
        assert isinstance(result, NotifyResult)  # one recipient, not a broadcast
        return {"recipient": rule.to, "notification": result.notification_id}

    def message(self, rule: Alert, window: int, figures: dict[str, Any]) -> dict[str, Any]:
        """The alert as the template and the webhook see it."""
        title, lines = describe(rule, figures)
        start = _EPOCH + _td(rule.every) * window
        url = self._dashboard_url(rule)
        text = "\n".join([f"[tidings {self.kernel.environment}] {title}", *lines, url])
        return {
            "alert": rule.key,
            "condition": rule.on,
            "environment": self.kernel.environment,
            "title": title,
            "lines": lines,
            "text": text,
            "dashboard_url": url,
            "window_start": start.isoformat(),
            "window_end": (start + _td(rule.every)).isoformat(),
            "figures": figures,
        }

    def _dashboard_url(self, rule: Alert) -> str:
        base = (self.links.public_url or "").rstrip("/") + "/dashboard"
        if rule.on == RUN_FAILED:
            query = "?status=FAILED" + (f"&task={rule.tasks[0]}" if rule.tasks else "")
            return f"{base}/runs{query}"
        if rule.on == DELIVERIES_FAILING:
            return f"{base}/deliveries?status=failed"
        return f"{base}/"

    async def _post(self, hook: Webhook, key: str, window: int, message: dict[str, Any]) -> int:
        """POST the alert, signed; the status code. Raises (so the step is retried) on a
        transport error or a 5xx/408/429; a 4xx the endpoint will repeat fails the run."""
        body = json.dumps(
            {"text": message["text"], "alert": {k: v for k, v in message.items() if k != "text"}},
            separators=(",", ":"),
        ).encode()
        msg_id = "msg_" + hashlib.sha256(f"{key}:{window}".encode()).hexdigest()[:24]
        # The signature's timestamp is transport time for the receiver's replay check, so
        # it is wall time (corrected to the database's), never a test's virtual clock.
        stamp = int(self.kernel.database_clock.now().timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": svix_sign(hook.secret, msg_id, stamp, body),
            "user-agent": "tidings-alerts",
        }
        try:
            async with httpx.AsyncClient(timeout=hook.timeout) as client:
                response = await client.post(hook.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise AlertDeliveryError(
                f"alert webhook {hook!r} unreachable: {type(exc).__name__}"
            ) from None
        code = response.status_code
        if code < 300:
            return code
        if code in (408, 429) or code >= 500:
            raise AlertDeliveryError(f"alert webhook {hook!r} answered {code}; retrying")
        raise NonRetriableError(f"alert webhook {hook!r} refused the alert with {code}")


class AlertDeliveryError(Exception):
    """A webhook could not take an alert this time (retried by the step's policy)."""


def window_of(rule: Alert, now: datetime) -> int:
    """The index of the ``every``-long window holding ``now`` (counted from the epoch)."""
    return int((now - _EPOCH) // _td(rule.every))


def describe(rule: Alert, figures: dict[str, Any]) -> tuple[str, list[str]]:
    """A one-line title and detail lines for people (email, Slack)."""
    if rule.on == RUN_FAILED:
        n = int(figures["failed"])
        title = f"{n} run{'s' if n != 1 else ''} failed"
        if figures.get("tasks"):
            title += f" ({', '.join(figures['tasks'])})"
        lines = [f"{r['task']} {r['id']}: {r['error'] or 'failed'}" for r in figures["runs"]]
        if n > len(figures["runs"]):
            lines.append(f"... and {n - len(figures['runs'])} more")
        return title, lines
    if rule.on == DELIVERIES_FAILING:
        names = ", ".join(p["provider"] for p in figures["providers"])
        title = f"Deliveries failing through {names}"
        lines = [
            f"{p['provider']}: {p['failed']} of {p['finished']} failed ({p['rate']:.0%}) in the "
            f"last {_span(figures['window'])}; threshold {figures['threshold']:.0%}"
            for p in figures["providers"]
        ]
        return title, lines
    if rule.on == TIMERS_LATE:
        title = f"Timers are late: p99 {_span(figures['p99'])}"
        lines = [
            f"p50 {_span(figures['p50'])}, p99 {_span(figures['p99'])} over "
            f"{figures['timers']} timers in the last {_span(figures['window'])}; "
            f"threshold {_span(figures['threshold'])}"
        ]
        return title, lines
    title = f"Queue backlog: a run has waited {_span(figures['waited'])}"
    lines = [
        f"{figures['due']} runs are due and not started; the oldest was due at "
        f"{figures['oldest_due_at']}; threshold {_span(figures['threshold'])}"
    ]
    return title, lines


def _span(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _td(value: object) -> timedelta:
    assert isinstance(value, timedelta)  # Alert normalised every duration
    return value


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)
