"""Alerts (issue 18, item 4): each condition fires, once per window, to an operator
recipient through the outbox and to a loopback webhook whose Svix signature the test
checks with its own HMAC code; bad rules are refused at construction."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.contract.notify_support import notify_app
from tests.contract.test_notify_delivery import Recording, Rejects
from tests.fakes.server import FakeServer, Request, Response
from tidings import Alert, Context, Retry, Tidings, Webhook
from tidings.clock import ScaledClock
from tidings.engine.worker import Worker
from tidings.errors import ConfigError
from tidings.testing import TestEngine

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
KEY = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(KEY).decode()


class SvixReceiver(FakeServer):
    """A webhook endpoint that accepts only requests signed with ``KEY`` (Standard
    Webhooks: HMAC-SHA256 of ``id.timestamp.body``, base64, ``v1,`` prefix), checked here
    independently of tidings' own signing code; what it accepted is in ``accepted``."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[Request] = []

    def handle(self, request: Request) -> Response:
        msg_id = request.headers.get("webhook-id", "")
        stamp = request.headers.get("webhook-timestamp", "")
        signature = request.headers.get("webhook-signature", "")
        if not (msg_id and stamp.isdigit() and abs(time.time() - int(stamp)) < 300):
            return Response(401, {"error": "missing or stale headers"})
        signed = f"{msg_id}.{stamp}.".encode() + request.raw
        expected = base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode()
        if not any(
            part == f"v1,{expected}" for part in signature.split()
        ):  # several may be sent during a secret rotation
            return Response(401, {"error": "bad signature"})
        body = request.json()
        if not isinstance(body.get("text"), str) or not body["text"]:
            return Response(400, {"error": "no text"})  # what a Slack webhook insists on
        self.accepted.append(request)
        return Response(200, body=b"ok")


@pytest.fixture
def receiver() -> Iterator[SvixReceiver]:
    server = SvixReceiver()
    with server.running():
        yield server


def _failing_task(app: Tidings, task_id: str = "charge") -> None:
    async def fails(ctx: Context) -> None:
        raise RuntimeError(f"{task_id}: card declined")

    app.task(id=task_id, retry=Retry(max_attempts=1))(fails)


async def test_run_failed_fires_once_per_window_to_the_outbox_and_a_signed_webhook(
    make_app: Callable[..., Tidings], receiver: SvixReceiver
) -> None:
    every = timedelta(minutes=15)
    app = make_app(
        alerts=[
            Alert(on="run.failed", to="ops-oncall", every=every),
            Alert(on="run.failed", to=Webhook(f"{receiver.url}/hooks/slack", SECRET), every=every),
        ]
    )
    app.recipients.upsert("ops-oncall", email="oncall@example.com")
    _failing_task(app)
    async with TestEngine(app, start=START) as t:
        await t.trigger("charge")  # 09:00, window 09:00-09:15
        await t.advance(timedelta(minutes=2))
        first = t.outbox.list(to="oncall@example.com", channel="email")
        assert len(first) == 1
        assert len(receiver.accepted) == 1

        await t.advance(timedelta(minutes=3))
        await t.trigger("charge")  # 09:05: same window, nothing more is sent
        await t.advance(timedelta(minutes=9))  # to 09:14
        assert len(t.outbox.list(to="oncall@example.com", channel="email")) == 1
        assert len(receiver.accepted) == 1

        await t.advance(timedelta(minutes=2))  # 09:16: the next window reports it
        emails = t.outbox.list(to="oncall@example.com", channel="email")
    assert len(emails) == 2
    assert len(receiver.accepted) == 2
    assert not [r for r in receiver.requests if r not in receiver.accepted]  # all verified

    (mail,) = first
    assert mail.subject == "[tidings dev] 1 run failed"
    assert mail.text is not None
    assert "charge: card declined" in mail.text
    assert "/dashboard/runs?status=FAILED" in mail.text
    assert mail.type == "tidings.alert"
    body = receiver.accepted[0].json()
    assert body["text"].startswith("[tidings dev] 1 run failed\ncharge run_")
    alert = body["alert"]
    assert (alert["condition"], alert["figures"]["failed"]) == ("run.failed", 1)
    assert alert["window_start"] == "2026-03-01T09:00:00+00:00"
    assert receiver.accepted[0].path == "/hooks/slack"
    second = receiver.accepted[1].json()["alert"]
    assert second["window_start"] == "2026-03-01T09:15:00+00:00"
    assert second["figures"]["failed"] == 1  # the 09:05 failure, held back until now
    assert receiver.accepted[0].headers["webhook-id"] != receiver.accepted[1].headers["webhook-id"]


async def test_a_webhook_that_fails_is_retried_with_the_same_id_and_a_refusal_is_not(
    make_app: Callable[..., Tidings], receiver: SvixReceiver
) -> None:
    app = make_app(alerts=[Alert(on="run.failed", to=Webhook(receiver.url, SECRET))])
    _failing_task(app)
    receiver.script = [Response(503, {"error": "busy"}), Response(429)]
    async with TestEngine(app, start=START) as t:
        await t.trigger("charge")
        await t.advance(timedelta(minutes=3))
        assert len(receiver.requests) == 3
        assert len(receiver.accepted) == 1
        assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
        (sent,) = await t.list_runs("tidings.alert.send")
        assert (sent.status.value, sent.attempt) == ("COMPLETED", 3)

        receiver.script = [Response(404, {"error": "no such hook"})]
        await t.advance(timedelta(minutes=15))
        await t.trigger("charge")
        await t.advance(timedelta(minutes=3))
        refused = [r for r in await t.list_runs("tidings.alert.send") if r.id != sent.id]
    assert len(receiver.requests) == 4  # a 404 is not retried
    (run,) = refused
    assert run.status.value == "FAILED"
    assert run.error is not None
    assert "refused the alert with 404" in run.error.message
    assert receiver.url not in run.error.message  # the URL may hold a token: host only


async def test_run_failed_watches_only_the_tasks_named(
    make_app: Callable[..., Tidings], receiver: SvixReceiver
) -> None:
    hook = Webhook(receiver.url, SECRET)
    app = make_app(alerts=[Alert(on="run.failed", tasks=["charge"], to=hook)])
    _failing_task(app, "charge")
    _failing_task(app, "resize")
    async with TestEngine(app, start=START) as t:
        await t.trigger("resize")
        await t.advance(timedelta(minutes=2))
        assert receiver.accepted == []
        await t.trigger("charge")
        await t.advance(timedelta(minutes=2))
    (request,) = receiver.accepted
    figures = request.json()["alert"]["figures"]
    assert [r["task"] for r in figures["runs"]] == ["charge"]


async def test_deliveries_failing_fires_for_the_provider_over_the_threshold(
    make_app: Callable[..., Tidings], tmp_path: Path, receiver: SvixReceiver
) -> None:
    app = notify_app(
        make_app,
        tmp_path,
        channels={"email": [Recording()], "sms": [Rejects()]},
        alerts=[
            Alert(
                on="deliveries.failing",
                threshold=0.5,
                window=timedelta(minutes=10),
                to=Webhook(receiver.url, SECRET),
            )
        ],
    )
    app.recipients.upsert("u1", email="u1@example.com", phone="+84901234567")
    async with TestEngine(app, start=START, outbox=False) as t:
        for i in range(3):
            app.notify("alert", to="u1", data={"name": f"n{i}"}, channels=["email", "sms"])
        await t.advance(timedelta(minutes=2))
    (request,) = receiver.accepted
    alert = request.json()["alert"]
    # the email provider delivered everything: only the SMS provider is named
    assert alert["figures"]["providers"] == [
        {"provider": "rejects", "failed": 3, "finished": 3, "rate": 1.0}
    ]
    assert "rejects: 3 of 3 failed (100%)" in request.json()["text"]


async def test_timers_late_fires_when_p99_lateness_passes_the_threshold(
    make_app: Callable[..., Tidings], receiver: SvixReceiver
) -> None:
    app = make_app(
        alerts=[
            Alert(
                on="timers.late", threshold=timedelta(seconds=30), to=Webhook(receiver.url, SECRET)
            )
        ]
    )

    @app.task
    async def nap(ctx: Context) -> None:
        await ctx.sleep(timedelta(minutes=1))

    async with TestEngine(app, start=START) as t:
        await t.trigger("nap")
        await t.advance(timedelta(minutes=3))  # on time: every timer fired at its due time
        assert receiver.accepted == []
        await t.trigger("nap")
        t.clock.set(t.now() + timedelta(minutes=3))  # the sleep ends 2 minutes late
        await t.run_due()
        await t.advance(timedelta(minutes=1))
    (request,) = receiver.accepted
    figures = request.json()["alert"]["figures"]
    assert figures["p99"] > 30
    assert figures["timers"] >= 2


def test_queue_backlog_fires_from_a_real_worker_on_a_scaled_clock(
    make_app: Callable[..., Tidings], receiver: SvixReceiver
) -> None:
    # 600x: the alert task's minute is 0.1 s. Runs of the "batch" queue wait: this worker
    # only serves "default".
    app = make_app(
        alerts=[
            Alert(
                on="queue.backlog", threshold=timedelta(minutes=5), to=Webhook(receiver.url, SECRET)
            )
        ]
    )
    app.configure(clock=ScaledClock(START, 600))

    @app.task(queue="batch")
    async def export(ctx: Context) -> None:
        return None

    app.trigger("export")
    with _running(app, queues=["default"], poll_interval=0.05):
        deadline = time.monotonic() + 20
        while not receiver.accepted and time.monotonic() < deadline:
            time.sleep(0.05)
        # the window is 15 engine minutes (1.5 s): wait out two more, then count
        time.sleep(0.6)
    assert receiver.accepted, "no backlog alert within 20 s"
    figures = receiver.accepted[0].json()["alert"]["figures"]
    assert figures["due"] == 1
    assert figures["waited"] > 300
    windows = [r.json()["alert"]["window_start"] for r in receiver.accepted]
    assert len(windows) == len(set(windows))  # never twice for one window


def test_two_workers_never_send_one_window_twice(app: Tidings) -> None:
    # The claim itself, raced from many threads on one store: exactly one wins.
    monitoring = app.store.monitoring
    results: list[object] = []
    barrier = threading.Barrier(8)

    def claim(n: int) -> None:
        barrier.wait()
        results.append(monitoring.claim_window("rule", 42, f"run-{n}", f'{{"n": {n}}}', START))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    won = [r for r in results if r is not None]
    assert len(won) == 1
    assert monitoring.claim_window("rule", 42, "late", "{}", START) is None
    assert monitoring.claim_window("rule", 43, "next", "{}", START) is not None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"on": "run.failing", "to": "ops"}, "unknown alert condition 'run.failing'"),
        ({"on": "run.failed", "to": "ops", "threshold": 0.2}, "does not take threshold"),
        ({"on": "queue.backlog", "to": "ops", "tasks": ["a"]}, "does not take tasks"),
        ({"on": "deliveries.failing", "to": "ops", "threshold": 1.5}, "failure rate in (0, 1]"),
        ({"on": "timers.late", "to": "ops", "threshold": -1}, "positive duration"),
        ({"on": "timers.late", "to": "ops", "window": 5}, "window must be 1 minute to 1 day"),
        ({"on": "run.failed", "to": "ops", "every": 10}, "every must be at least 1 minute"),
        ({"on": "run.failed", "to": "ops", "tasks": []}, "tasks must not be empty"),
        ({"on": "run.failed", "to": 7}, "to must be a recipient id or a Webhook"),
        ({"on": "run.failed", "to": "ops", "name": "bad name"}, "name must be"),
    ],
)
def test_a_bad_alert_is_refused_naming_what_is_wrong(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Alert(**options)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("url", "secret", "message"),
    [
        ("ftp://example.com/x", SECRET, "http(s) URL"),
        ("https://example.com/x", "not-a-secret", "whsec_"),
        ("https://example.com/x", "whsec_%%%", "followed by base64"),
        ("https://example.com/x", "whsec_" + base64.b64encode(b"short").decode(), "16 bytes"),
    ],
)
def test_a_bad_webhook_is_refused(url: str, secret: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Webhook(url, secret)
    assert message in str(caught.value)
    assert secret not in str(caught.value) or secret == "not-a-secret"


def test_configure_checks_every_rule_before_changing_any(app: Tidings) -> None:
    rule = Alert(on="run.failed", to="ops")
    app.configure(alerts=[rule])
    with pytest.raises(ConfigError, match=r"alerts\[1\] must be an Alert"):
        app.configure(alerts=[Alert(on="queue.backlog", to="ops"), "run.failed"])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="repeats the rule"):
        app.configure(alerts=[rule, rule])
    assert app.alerts == (rule,)
    assert "tidings.alerts" in app.kernel.tasks
    app.configure(alerts=[])
    assert not app.alerts
    assert "tidings.alerts" not in app.kernel.tasks  # no task every minute without rules


@contextmanager
def _running(app: Tidings, **options: Any) -> Iterator[Worker]:
    worker = app.worker(**options)
    thread = threading.Thread(target=asyncio.run, args=(worker.run(),), daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=30)
        assert not thread.is_alive()
