"""Sending: retries with backoff, failover, permanent errors, and never twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

from tests.conftest import START
from tests.contract.notify_support import notify_app
from tidings import Context, RunStatus, Tidings
from tidings.providers.base import (
    Channel,
    Message,
    PermanentProviderError,
    Provider,
    RetryableProviderError,
    SendResult,
)
from tidings.testing import TestEngine

TOKEN = "ExponentPushToken[device-1]"


class Recording(Provider):
    """Accepts everything and remembers it."""

    name = "recording"
    channels: ClassVar[frozenset[Channel]] = frozenset({Channel.EMAIL, Channel.PUSH, Channel.SMS})

    def __init__(self) -> None:
        self.sent: list[Message] = []

    async def send(self, message: Message) -> SendResult:
        self.sent.append(message)
        # details need not be JSON: they are recorded as text then
        return SendResult(provider_message_id=f"rec-{len(self.sent)}", details={"at": START})


class Busy(Provider):
    """Refuses the first ``failures`` sends as rate limited, then accepts."""

    name = "busy"
    channels: ClassVar[frozenset[Channel]] = frozenset({Channel.EMAIL, Channel.PUSH, Channel.SMS})

    def __init__(self, failures: int, retry_after: float | None = None, attempts: int = 5) -> None:
        self.failures = failures
        self.retry_after = retry_after
        self.max_attempts = attempts
        self.calls = 0

    async def send(self, message: Message) -> SendResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise RetryableProviderError("429 slow down", code="rate_limited",
                                         retry_after=self.retry_after)  # fmt: skip
        return SendResult(provider_message_id=f"busy-{self.calls}")


class Rejects(Provider):
    """Rejects every message for good."""

    name = "rejects"
    channels: ClassVar[frozenset[Channel]] = frozenset({Channel.EMAIL, Channel.PUSH, Channel.SMS})

    def __init__(self, **flags: bool) -> None:
        self.flags = flags
        self.calls = 0

    async def send(self, message: Message) -> SendResult:
        self.calls += 1
        raise PermanentProviderError("address rejected", code="invalid", **self.flags)


def _email_app(
    make_app: Callable[..., Tidings], tmp_path: Path, providers: dict[str, list[Provider]]
) -> Tidings:
    app = notify_app(make_app, tmp_path, channels=providers)
    app.recipients.upsert("u1", email="u1@example.com", phone="+84901234567")
    app.recipients.add_push_token("u1", TOKEN)
    return app


async def test_retries_back_off_and_honour_retry_after(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    busy = Busy(failures=2, retry_after=30)
    app = _email_app(make_app, tmp_path, {"email": [busy]})
    async with TestEngine(app, start=START, outbox=False) as t:
        app.notify("alert", to="u1", data={"name": "An"}, channels=["email"])
        await t.run_due()
        (d,) = app.deliveries.list(channel="email")
        assert (d.status, d.attempts, busy.calls) == ("pending", 1, 1)
        await t.advance(timedelta(seconds=29))
        assert busy.calls == 1  # retry_after is honoured over the 1 s backoff
        await t.advance(timedelta(seconds=1))
        assert busy.calls == 2
        await t.advance(timedelta(seconds=30))
        (d,) = app.deliveries.list(channel="email")
    assert busy.calls == 3
    assert (d.status, d.provider, d.provider_message_id, d.attempts) == (
        "sent", "busy", "busy-3", 3,
    )  # fmt: skip
    assert [h["outcome"] for h in d.history] == ["retry", "retry", "sent"]
    assert d.sent_at == START + timedelta(seconds=60)
    assert d.error is None


async def test_fails_over_past_a_providers_attempts_and_records_it(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    down, backup = Busy(failures=100, attempts=2), Recording()
    app = _email_app(make_app, tmp_path, {"email": [down, backup]})
    async with TestEngine(app, start=START, outbox=False) as t:
        app.notify("alert", to="u1", data={"name": "An"}, channels=["email"])
        await t.advance(timedelta(minutes=1))
    (d,) = app.deliveries.list(channel="email")
    assert [(h["provider"], h["outcome"]) for h in d.history] == [
        ("busy", "retry"),
        ("busy", "retry"),
        ("recording", "sent"),
    ]
    assert (d.status, d.provider, d.provider_message_id) == ("sent", "recording", "rec-1")
    assert d.history[-1]["details"] == {"at": str(START)}
    assert down.calls == 2
    (message,) = backup.sent
    assert message.idempotency_key == d.id
    assert (message.to, message.subject) == ("u1@example.com", "Results for An")


async def test_every_provider_failing_fails_the_delivery_not_the_run(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    down = Busy(failures=100, attempts=3)
    app = _email_app(make_app, tmp_path, {"sms": [down]})
    async with TestEngine(app, start=START, outbox=False) as t:
        h = app.notify("alert", to="u1", data={"name": "An"}, channels=["sms"])
        await t.advance(timedelta(minutes=5))
        runs = await t.list_runs()
    (d,) = app.deliveries.list(channel="sms")
    assert (d.status, d.attempts, down.calls) == ("failed", 3, 3)
    assert d.error == "429 slow down"
    assert all(r.status is RunStatus.COMPLETED for r in runs)
    assert h.result().deliveries[0].status == "pending"  # as routed


async def test_a_permanent_rejection_suppresses_the_address(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    rejects, backup = Rejects(suppress_address=True), Recording()
    app = _email_app(make_app, tmp_path, {"email": [rejects, backup]})
    async with TestEngine(app, start=START, outbox=False) as t:
        app.notify("alert", to="u1", data={"name": "An"}, channels=["email"])
        await t.run_due()
        (d,) = app.deliveries.list(channel="email")
        assert (d.status, d.error, rejects.calls, backup.sent) == (
            "failed", "address rejected", 1, [],
        )  # fmt: skip
        assert app.suppressions.contains("email", "u1@example.com")
        again = app.notify("alert", to="u1", data={"name": "An"}, channels=["email"])
        await t.run_due()
    assert again.result().deliveries[0].status == "suppressed"
    assert rejects.calls == 1


async def test_a_dead_device_token_is_deactivated(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    rejects = Rejects(deactivate_token=True)
    app = _email_app(make_app, tmp_path, {"push": [rejects]})
    async with TestEngine(app, start=START, outbox=False) as t:
        app.notify("alert", to="u1", data={"name": "An"}, channels=["push"])
        await t.run_due()
        assert app.recipients.push_tokens("u1") == []
        again = app.notify("alert", to="u1", data={"name": "An"}, channels=["push"])
        await t.run_due()
    assert again.result().deliveries[0].status == "skipped"


async def test_re_executing_a_run_never_sends_twice(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = notify_app(make_app, tmp_path)
    app.recipients.upsert("u1", email="u1@example.com")
    attempts: list[int] = []

    @app.task()
    async def flaky_after_notify(ctx: Context) -> None:
        await ctx.notify("alert", to="u1", data={"name": "An"})
        attempts.append(ctx.attempt)
        if ctx.attempt < 3:
            raise RuntimeError("boom after the notification")

    async with TestEngine(app, start=START) as t:
        h = await t.trigger(flaky_after_notify)
        await t.advance(timedelta(minutes=1))
        run = await t.get_run(h.id)
    assert run.status is RunStatus.COMPLETED
    assert attempts == [1, 2, 3]
    assert len(app.deliveries.list(channel="email")) == 1
    assert len(app.outbox.list(to="u1")) == 1
    assert len(app.inbox.list("u1")) == 1


async def test_recording_the_same_notification_again_writes_nothing(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    # What a worker that died after routing but before saving the step does on resume.
    app = notify_app(make_app, tmp_path)
    app.recipients.upsert("u1", email="u1@example.com")
    async with TestEngine(app, start=START) as t:
        first = app.notifications.send("alert", "u1", {"name": "An"}, None, "run:r1/alert", "r1")
        again = app.notifications.send("alert", "u1", {"name": "An"}, None, "run:r1/alert", "r1")
        await t.run_due()
    assert (first.created, again.created) == (True, False)
    assert [d.id for d in again.deliveries] == [d.id for d in first.deliveries]
    assert len(app.deliveries.list()) == 4  # one per channel of the type
    assert len(app.outbox.list()) == 1
    assert len(app.inbox.list("u1")) == 1
    assert len(app.list_runs(status="COMPLETED", limit=50)) == 1  # one tidings.deliver run


async def test_replay_sends_anew_unless_a_dedup_key_was_given(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = notify_app(make_app, tmp_path)
    app.recipients.upsert("u1", email="u1@example.com")

    @app.task()
    async def plain(ctx: Context) -> None:
        await ctx.notify("alert", to="u1", data={"name": "An"}, channels=["email"])

    @app.task()
    async def keyed(ctx: Context) -> None:
        await ctx.notify("urgent", to="u1", data={"name": "An"}, channels=["email"],
                         dedup_key="lab-77")  # fmt: skip

    async with TestEngine(app, start=START) as t:
        a, b = await t.trigger(plain), await t.trigger(keyed)
        app.replay(a.id)
        app.replay(b.id)
        await t.run_due()
        assert len(t.outbox.list(type="alert")) == 2
        assert len(t.outbox.list(type="urgent")) == 1
        # the key holds for the idempotency window (24 h), then sends anew
        await t.advance(timedelta(hours=24, seconds=1))
        app.replay(b.id)
        await t.run_due()
        assert len(t.outbox.list(type="urgent")) == 2


async def test_app_notify_runs_durably_and_dedups_by_key(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = notify_app(make_app, tmp_path)
    app.recipients.upsert("u1", email="u1@example.com")
    async with TestEngine(app, start=START) as t:
        h1 = app.notify("alert", to="u1", data={"name": "An"}, dedup_key="lab-77")
        h2 = await app.notify_async("alert", to="u1", data={"name": "An"}, dedup_key="lab-77")
        await t.run_due()
        result = await h1.result_async()
        run = await t.get_run(h1.id)
    assert h2.id == h1.id
    assert not h2.created
    assert run.task_id == "tidings.notify"
    assert [s.kind for s in run.steps] == ["notify"]
    assert result.dedup_key == "lab-77"
    assert {d.channel: d.status for d in result.deliveries} == {
        "in_app": "delivered", "email": "pending", "push": "skipped", "sms": "skipped",
    }  # fmt: skip
    assert len(app.outbox.list()) == 1
    assert "tidings.notify" not in app.tasks
