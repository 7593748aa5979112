"""The five jobs of table B (plus the per-connection sync they fan out to)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from examples.common.timing import checkpoint
from tidings import Context, NonRetriableError, RateLimit, Retry, Singleton, Tidings

from .domain import NotesData
from .notion import SourceUnauthorized
from .sequences import SEQUENCES

NOTION_RATE_LIMIT = RateLimit(limit=1, period=timedelta(seconds=2))


class DigestSend(BaseModel):
    digestId: str
    userId: str


class SequenceRun(BaseModel):
    userId: str
    sequenceName: str


class ConnectionSync(BaseModel):
    connectionId: str


def digest_key(digest_id: str) -> str:
    """The idempotency key of a digest's send: one run per digest, whoever asks."""
    return f"note-digest-{digest_id}"


def sequence_key(sequence: str, user_id: str) -> str:
    """The idempotency key of a sequence runner: one run per user and sequence."""
    return f"sequence-run-{sequence}-{user_id}"


def _sync_connection(data: NotesData, connection_id: str, now_iso: str) -> dict[str, Any]:
    try:
        return data.sync_connection(connection_id, now_iso)
    except SourceUnauthorized as exc:  # retrying cannot help until the user reconnects
        raise NonRetriableError(f"Notion connection {connection_id}: {exc}") from exc


def _digest_hourly(app: Tidings, data: NotesData) -> None:
    @app.task(cron="0 * * * *")
    async def digest_hourly(ctx: Context, tick: dict[str, Any]) -> dict[str, Any]:
        """Build today's digest for everyone who has none; send those whose hour has come."""
        now = await checkpoint(ctx)
        built = await ctx.step("build-digests", data.build_digests, now.isoformat())
        due = await ctx.step("find-due-digests", data.due_digests, now.isoformat())
        for digest_id, user_id in due:
            await ctx.trigger(
                "digest-send-for-user",
                {"digestId": digest_id, "userId": user_id},
                idempotency_key=digest_key(digest_id),
                name=f"send-{digest_id}",
            )
        return {"built": built, "due": [digest_id for digest_id, _ in due]}


def _digest_send(app: Tidings, data: NotesData) -> None:
    # One send per user at a time: a digest due while the user's previous send still
    # runs (or waits to retry) is skipped now and found again by the next hourly tick,
    # so nobody gets two digest emails at once.
    @app.task(
        retry=Retry(max_attempts=5, initial=timedelta(seconds=30)),
        singleton=Singleton(key="userId"),
    )
    async def digest_send_for_user(ctx: Context, send: DigestSend) -> dict[str, Any]:
        """Send one digest at once; triggered with ``note-digest-<digestId>``, so once."""
        digest = await ctx.step("load-digest", data.digest, send.digestId)
        if digest is None:
            raise NonRetriableError(f"no digest {send.digestId!r}")
        if digest["sentAt"] is not None:
            return {"sent": False, "sentAt": digest["sentAt"]}
        await ctx.notify(
            "note-digest",
            to=digest["userId"],
            data={"name": digest["name"], "date": digest["localDate"], "items": digest["items"]},
            dedup_key=digest_key(send.digestId),
        )
        sent_at = await ctx.step(
            "record-sent", data.mark_digest_sent, send.digestId, ctx.now().isoformat()
        )
        return {"sent": True, "sentAt": sent_at}


def _sequence_runner(app: Tidings, data: NotesData) -> None:
    @app.task
    async def email_sequence_runner(ctx: Context, run: SequenceRun) -> dict[str, Any]:
        """Walk one user through one sequence, checking its exit conditions before each send."""
        sequence = SEQUENCES.get(run.sequenceName)
        if sequence is None:
            raise NonRetriableError(f"unknown sequence {run.sequenceName!r}")
        state = await ctx.step("load-state", data.sequence_state, run.userId, sequence.name)
        if state is None:
            raise NonRetriableError(f"{run.userId} has no {sequence.name!r} sequence state")
        started = datetime.fromisoformat(state["startedAt"])
        for index in range(state["nextStep"], len(sequence.steps)):
            step = sequence.steps[index]
            await ctx.sleep_until(started + step.after, name=f"until-{step.key}")
            check = await ctx.step(
                f"check-exit-{step.key}", data.exit_reason, run.userId, list(sequence.exit_when)
            )
            if check["exit"] is not None:
                await ctx.step(
                    "record-exit",
                    data.advance_sequence,
                    run.userId,
                    sequence.name,
                    index,
                    "exited",
                    check["exit"],
                    ctx.now().isoformat(),
                )
                return {"exited": check["exit"], "before": step.key}
            claimed = await ctx.step(
                f"claim-{step.key}",
                data.claim_send,
                run.userId,
                sequence.name,
                step.key,
                ctx.now().isoformat(),
            )
            if claimed:
                await ctx.notify(
                    step.email,
                    to=run.userId,
                    data={"name": check["name"]},
                    dedup_key=f"{sequence_key(sequence.name, run.userId)}-{step.key}",
                )
            done = index + 1 == len(sequence.steps)
            await ctx.step(
                f"advance-{step.key}",
                data.advance_sequence,
                run.userId,
                sequence.name,
                index + 1,
                "completed" if done else "active",
                None,
                ctx.now().isoformat(),
            )
        return {"completed": True}


def _upgrade_discover(app: Tidings, data: NotesData) -> None:
    @app.task(cron="0 * * * *")
    async def upgrade_sequence_discover(ctx: Context, tick: dict[str, Any]) -> dict[str, Any]:
        """Enroll newly eligible users in the upgrade sequence, once each, and start it."""
        now = await checkpoint(ctx)
        enrolled = await ctx.step(
            "enroll-candidates", data.enroll_upgrade_candidates, now.isoformat()
        )
        for user_id in enrolled:
            await ctx.trigger(
                "email-sequence-runner",
                {"userId": user_id, "sequenceName": "upgrade"},
                idempotency_key=sequence_key("upgrade", user_id),
                name=f"start-{user_id}",
            )
        return {"enrolled": enrolled}


def _notion_weekly(app: Tidings, data: NotesData) -> None:
    @app.task(cron="0 3 * * 0")
    async def notion_sync_weekly(ctx: Context, tick: dict[str, Any]) -> dict[str, Any]:
        """Sundays 03:00 UTC: one sync run per active connection, started 2 s apart at most
        (``notion-sync-connection`` carries the rate limit), each failing on its own."""
        connections = await ctx.step("active-connections", data.active_connections)
        week = tick.get("timestamp") or (await checkpoint(ctx)).isoformat()
        for connection_id in connections:
            await ctx.trigger(
                "notion-sync-connection",
                {"connectionId": connection_id},
                idempotency_key=f"notion-sync-{connection_id}-{week}",
                name=f"sync-{connection_id}",
            )
        return {"connections": connections}


def _notion_connection(app: Tidings, data: NotesData) -> None:
    @app.task(
        rate_limit=NOTION_RATE_LIMIT,
        retry=Retry(max_attempts=3, initial=timedelta(minutes=1), maximum=timedelta(minutes=10)),
    )
    async def notion_sync_connection(ctx: Context, sync: ConnectionSync) -> dict[str, Any]:
        """Incremental, cursor-based sync of one connection; then the user's first digest."""
        synced = await ctx.step(
            "sync", _sync_connection, data, sync.connectionId, ctx.now().isoformat()
        )
        first = await ctx.step(
            "first-digest", data.build_first_digest, synced["userId"], ctx.now().isoformat()
        )
        if first is not None:
            await ctx.trigger(
                "digest-send-for-user",
                {"digestId": first, "userId": synced["userId"]},
                idempotency_key=digest_key(first),
            )
        return {"pages": synced["pages"], "firstDigest": first}


def register_tasks(app: Tidings, data: NotesData) -> None:
    """Declare table B's jobs on ``app``; they read and write ``data``."""
    for register in (
        _digest_hourly,
        _digest_send,
        _sequence_runner,
        _upgrade_discover,
        _notion_weekly,
        _notion_connection,
    ):
        register(app, data)
