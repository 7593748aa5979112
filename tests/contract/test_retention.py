"""Retention on every store: what a prune deletes, what it never touches, dry runs, the
hourly built-in task, and the policy's validation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import START
from tests.contract.notify_support import notify_app
from tidings import BroadcastHandle, Context, Retention, RunStatus, Tidings
from tidings.clock import VirtualClock
from tidings.errors import ConfigError, UnknownBroadcastError, UnknownRunError
from tidings.kernel.pruning import PRUNE_TASK
from tidings.loader import load_app
from tidings.retention import parse_period
from tidings.store.db.store import DatabaseStore
from tidings.testing import TestEngine

DAY = timedelta(days=1)


def _tasks(app: Tidings) -> None:
    @app.task
    async def done(ctx: Context, payload: dict[str, Any]) -> int:
        await ctx.step("one", lambda: 1)
        ctx.logger.info("done %s", payload.get("n"))
        return 1

    @app.task
    async def sleeper(ctx: Context, payload: dict[str, Any]) -> str:
        await ctx.step("before", lambda: "x")
        await ctx.sleep(timedelta(days=100))
        return "woke"

    @app.task
    async def waiter(ctx: Context, payload: dict[str, Any]) -> Any:
        ev = await ctx.wait_for_event(
            "order.paid", match={"order": payload["order"]}, timeout=timedelta(days=200)
        )
        return None if ev is None else ev.data

    @app.task
    async def quick_child(ctx: Context, payload: dict[str, Any]) -> str:
        return "child done"

    @app.task
    async def slow_child(ctx: Context, payload: dict[str, Any]) -> str:
        await ctx.sleep(timedelta(days=100))
        return "slow child done"

    @app.task
    async def waits_on_child(ctx: Context, payload: dict[str, Any]) -> str:
        got = await ctx.trigger_and_wait("quick-child", {})
        await ctx.sleep(timedelta(days=100))
        return str(got)

    @app.task
    async def leaves_child(ctx: Context, payload: dict[str, Any]) -> str:
        return await ctx.trigger("slow-child", {})  # fire and forget: no parent link

    @app.task
    async def waits_on_slow(ctx: Context, payload: dict[str, Any]) -> str:
        return str(await ctx.trigger_and_wait("slow-child", {}))


def _gone(app: Tidings, run_id: str) -> bool:
    try:
        app.get_run(run_id)
    except UnknownRunError:
        return True
    return False


async def test_a_prune_deletes_old_finished_runs_and_nothing_an_active_run_needs(
    app: Tidings,
) -> None:
    _tasks(app)
    async with TestEngine(app, start=START) as t:
        old = [(await t.trigger("done", {"n": i})).id for i in range(5)]
        sleeping = (await t.trigger("sleeper", {})).id
        waiting = (await t.trigger("waiter", {"order": "o1"})).id
        parent_active = (await t.trigger("waits-on-child", {})).id
        parent_done = (await t.trigger("leaves-child", {})).id
        cancelled = (await t.trigger("waits-on-slow", {})).id
        await t.advance(timedelta(days=1))
        assert app.cancel(cancelled).status is RunStatus.CANCELLED
        await t.advance(timedelta(days=40))
        queued = (await t.trigger("done", {"n": 99}, delay=timedelta(days=10))).id
        recent = (await t.trigger("done", {"n": 100})).id
        await t.send_event("order.other", {"order": "nobody"})  # recent: kept

        child_of_active = app.get_run(parent_active).steps[0].result["data"]["run_id"]
        slow_children = [r.id for r in app.list_runs(task_id="slow-child")]
        assert len(slow_children) == 2
        before = {r: app.get_run(r) for r in (sleeping, waiting, parent_active)}
        report = app.prune()

        assert report.counts["runs"] == 6
        assert all(_gone(app, r) for r in [*old, parent_done])
        # active runs, and a finished run whose parent or child is active, stay whole
        for run_id, run in before.items():
            assert app.get_run(run_id) == run
        assert app.get_run(queued).status is RunStatus.QUEUED
        assert app.get_run(recent).status is RunStatus.COMPLETED
        assert app.get_run(child_of_active).status is RunStatus.COMPLETED
        assert app.get_run(cancelled).status is RunStatus.CANCELLED  # its child is active
        assert all(app.get_run(r).status is RunStatus.WAITING for r in slow_children)
        assert report.max_batch_rows <= app.retention.batch * 4  # a run, its step, its log line

        # the waits still work: the event resumes the waiting run, the sleepers wake
        await t.send_event("order.paid", {"order": "o1", "total": 7})
        await t.advance(timedelta(days=70))
        assert app.get_run(waiting).result == {"order": "o1", "total": 7}
        assert app.get_run(sleeping).result == "woke"
        assert app.get_run(parent_active).result == "child done"
        assert all(app.get_run(r).result == "slow child done" for r in slow_children)
        # once its child is over, the cancelled parent goes too
        assert app.prune().counts["runs"] >= 1
        assert _gone(app, cancelled)


async def test_a_dry_run_counts_and_changes_nothing(app: Tidings) -> None:
    _tasks(app)
    async with TestEngine(app, start=START) as t:
        ids = [(await t.trigger("done", {"n": i})).id for i in range(3)]
        for i in range(4):
            await t.send_event("signup", {"i": i})
        await t.advance(timedelta(days=31))
        dry = app.prune(dry_run=True)
        assert dry.dry_run
        assert dry.id is None
        assert dry.batches == 0
        assert dry.counts["runs"] == 3
        assert dry.counts["events"] == 4
        assert all(app.get_run(r).status is RunStatus.COMPLETED for r in ids)
        assert app.last_prune() is None  # a dry run is not recorded

        real = app.prune()
        assert {k: v for k, v in real.counts.items() if v} == {
            k: v for k, v in dry.counts.items() if v
        }
        assert all(_gone(app, r) for r in ids)
        last = app.last_prune()
        assert last is not None
        assert last.id == real.id
        assert last.counts == real.counts
        assert app.prune(dry_run=True).total == 0


async def test_the_hourly_built_in_task_prunes(make_app: Callable[..., Tidings]) -> None:
    # two hours, but never less than the idempotency window (one hour here)
    app = make_app(retention=Retention(runs=timedelta(hours=2)), idempotency_ttl=3600)
    _tasks(app)
    async with TestEngine(app, start=START, prune=True) as t:
        first = (await t.trigger("done", {})).id
        await t.advance(timedelta(hours=4))
        assert _gone(app, first)
        last = app.last_prune()
        assert last is not None
        assert last.counts["runs"] >= 1
        prunes = app.list_runs(task_id=PRUNE_TASK)
        assert prunes
        assert all(r.status is RunStatus.COMPLETED for r in prunes)
        assert [s.task_id for s in app.schedules.list()] == []  # built in: not the app's


async def test_deliveries_outbox_and_inbox_go_after_their_periods(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = notify_app(make_app, tmp_path)
    app.recipients.upsert("u1", email="u1@example.com")
    async with TestEngine(app, start=START) as t:
        await app.notify_async("alert", to="u1", data={"name": "An"})
        await t.advance(timedelta(0))
        assert len(app.outbox.list()) == 1
        # outbox kept 7 days, deliveries 90, inbox 180
        await t.advance(timedelta(days=8))
        assert app.prune().counts["outbox"] == 1
        assert app.outbox.list() == []
        assert len(app.deliveries.list(to="u1")) == 4  # one per channel, two skipped
        await t.advance(timedelta(days=83))
        assert app.prune().counts["deliveries"] == 4
        assert app.deliveries.list(to="u1") == []
        assert len(app.inbox.list("u1")) == 1
        await t.advance(timedelta(days=90))
        assert app.prune().counts["inbox"] == 1
        assert app.inbox.list("u1") == []


async def test_retention_off_keeps_everything(make_app: Callable[..., Tidings]) -> None:
    app = make_app(retention=Retention.off())
    _tasks(app)
    async with TestEngine(app, start=START) as t:
        run = (await t.trigger("done", {})).id
        await t.advance(timedelta(days=400))
        report = app.prune()
        assert report.counts == {}
        assert report.total == 0
        assert app.get_run(run).status is RunStatus.COMPLETED


@pytest.mark.parametrize("field", ["runs", "events", "deliveries", "outbox", "inbox"])
def test_a_period_below_one_hour_is_refused_naming_the_field(field: str) -> None:
    with pytest.raises(ConfigError, match=rf"Retention\.{field} must be at least one hour"):
        Retention(**{field: timedelta(minutes=59)})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=rf"\[retention\] {field}"):
        Retention.from_table({field: "1 minute"})
    with pytest.raises(ConfigError, match=rf"Retention\.{field} must be at least one hour"):
        Retention.from_table({field: "0.5h"})
    assert getattr(Retention(**{field: timedelta(hours=1)}), field) == timedelta(hours=1)  # type: ignore[arg-type]


def test_bad_policies_change_nothing(app: Tidings) -> None:
    before = app.retention
    with pytest.raises(ConfigError, match=r"retention must be a tidings\.Retention"):
        app.configure(retention={"runs": 3})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"Retention\.batch"):
        Retention(batch=10)
    with pytest.raises(ConfigError, match="unknown keys run"):
        Retention.from_table({"run": "3d"})
    assert app.retention is before
    app.configure(retention=Retention(runs=2 * DAY))
    assert app.retention.runs == 2 * DAY
    assert parse_period("off", "x") is None
    assert parse_period(False, "x") is None
    assert parse_period(3, "x") == 3 * DAY
    assert parse_period("2w", "x") == 14 * DAY


def test_the_retention_table_of_tidings_toml(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "appmod_retention.py").write_text(
        "from tidings import Tidings\napp = Tidings()\n", encoding="utf-8"
    )
    (tmp_path / "tidings.toml").write_text(
        '[tidings]\napp = "appmod_retention:app"\n\n'
        '[retention]\nruns = "14d"\noutbox = "off"\nbatch = 500\n',
        encoding="utf-8",
    )
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        loaded = load_app(database_url=database_url, directory=tmp_path)
        assert loaded.retention == Retention(runs=14 * DAY, outbox=None, batch=500)
        (tmp_path / "tidings.toml").write_text(
            '[tidings]\napp = "appmod_retention:app"\n\n[retention]\nevents = "10m"\n',
            encoding="utf-8",
        )
        with pytest.raises(ConfigError, match=r"\[retention\] events"):
            load_app(database_url=database_url, directory=tmp_path)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("appmod_retention", None)


async def test_keys_webhook_events_digests_and_broadcasts_go_too(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = notify_app(make_app, tmp_path)
    for user in ("u1", "u2"):
        app.recipients.upsert(user, email=f"{user}@example.com")

    @app.task(on_event="quote.created")
    async def quote_digest(ctx: Context, payload: dict[str, Any]) -> int | None:
        quotes = await ctx.digest("quotes", payload, window=timedelta(hours=1))
        return None if quotes is None else len(quotes)

    async with TestEngine(app, start=START) as t:
        keyed = (await t.trigger("quote-digest", {"n": 0}, idempotency_key="once")).id
        await t.send_event("quote.created", {"n": 1})
        await t.send_event("quote.created", {"n": 2})
        broadcast = app.notify("alert", to=["u1", "u2"], data={"name": "all"})
        store = app.store
        assert isinstance(store, DatabaseStore)
        with store.db.transaction(write=True) as tx:  # a provider webhook applied now
            now = store.db.ts(t.now())
            tx.run("record_webhook_event", {"provider": "resend", "event_id": "e1", "now": now})
        await t.advance(timedelta(hours=2))
        assert isinstance(broadcast, BroadcastHandle)
        assert app.broadcasts.get(broadcast.id).finished_at is not None

        assert not any(app.prune(dry_run=True).counts.values())  # two hours on: nothing
        await t.advance(timedelta(days=1))
        assert app.prune().counts["idempotency_keys"] == 2  # the trigger's, the broadcast's
        again = await t.trigger("quote-digest", {"n": 0}, idempotency_key="once")
        assert again.id != keyed  # the key had expired: a new run

        await t.advance(timedelta(days=31))
        counts = app.prune().counts
        assert counts["webhook_events"] == 1
        assert counts["events"] == 2
        assert counts["digests"] == 2  # the first window, and the one the second run opened
        assert counts["broadcasts"] == 1
        with pytest.raises(UnknownBroadcastError):
            app.broadcasts.get(broadcast.id)
        assert app.prune(dry_run=True).total == 0


def test_events_since_the_longest_running_attempt_began_are_kept(app: Tidings) -> None:
    _tasks(app)
    clock = VirtualClock(START)
    app.configure(clock=clock)
    held = app.trigger("done", {"n": 1}).id
    [claimed] = app.store.runs.claim("w", None, START, START + timedelta(days=90), 1)
    assert claimed.id == held  # RUNNING since START: it may still register a wait
    clock.advance(timedelta(minutes=1))
    app.send_event("order.paid", {"order": "o1"})
    clock.advance(timedelta(days=30))
    assert app.prune().counts["events"] == 0
    app.cancel(held)
    assert app.prune().counts["events"] == 1


async def test_a_pruned_run_takes_its_wait_tokens_and_the_bulk_actions_it_carried_out(
    app: Tidings,
) -> None:
    from tidings.errors import UnknownBulkActionError, UnknownTokenError

    tokens: dict[str, str] = {}  # run id -> its token (the body runs again on resume)

    @app.task
    async def approval(ctx: Context, payload: dict[str, Any]) -> Any:
        token = await ctx.create_token(timeout=timedelta(hours=2))
        tokens[ctx.run_id] = token.id
        return await ctx.wait_for_token(token)

    @app.task
    async def idle(ctx: Context, payload: dict[str, Any]) -> None:
        return None

    async with TestEngine(app, start=START) as t:
        timed_out = (await t.trigger("approval", {})).id
        await t.trigger("idle", {}, delay=timedelta(days=1))
        action = app.runs.cancel_many(task="idle")
        await t.run_due()
        assert app.runs.bulk_action(action.id).status == "completed"
        await t.advance(timedelta(days=40))
        assert app.get_run(timed_out).result is None
        open_token = (await t.trigger("approval", {})).id  # recent and active: kept
        await t.run_due()
        report = app.prune()

        assert report.counts["runs"] >= 3  # the approval that timed out, idle, the bulk run
        assert _gone(app, timed_out)
        with pytest.raises(UnknownTokenError):
            app.complete_token(tokens[timed_out])
        with pytest.raises(UnknownBulkActionError):
            app.runs.bulk_action(action.id)
        assert app.get_run(open_token).status is RunStatus.WAITING
        assert app.complete_token(tokens[open_token]) is True  # an active run's: untouched
