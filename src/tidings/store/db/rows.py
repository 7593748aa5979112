"""Rows back to records, shared by the concepts that read the same tables."""

from __future__ import annotations

import json

from tidings.records import ErrorInfo, Run, RunStatus, Schedule, Step
from tidings.records.notify import Channel, Delivery, DeliveryStatus, InboxItem, Recipient
from tidings.serde import loads
from tidings.store.db.database import Database, Row
from tidings.store.runs import StepRecord


def step_record(db: Database, r: Row) -> StepRecord:
    dt = db.dt
    return StepRecord(
        name=str(r["name"]),
        kind=str(r["kind"]),
        status=str(r["status"]),
        attempts=int(r["attempts"]),
        result=r["result"],
        error=ErrorInfo.from_json(loads(r["error"])),
        started_at=dt(r["started_at"]),
        finished_at=dt(r["finished_at"]),
        wake_at=dt(r["wake_at"]),
    )


def public_step(db: Database, r: Row) -> Step:
    s = step_record(db, r)
    return Step(
        name=s.name,
        kind=s.kind,
        status=s.status,
        attempts=s.attempts,
        result=loads(s.result),
        error=s.error,
        started_at=s.started_at,
        finished_at=s.finished_at,
        wake_at=s.wake_at,
    )


def run(db: Database, r: Row, steps: list[Step]) -> Run:
    dt = db.dt
    status = RunStatus(r["status"])
    return Run(
        id=str(r["id"]),
        task_id=str(r["task_id"]),
        status=status,
        payload=loads(r["payload"]),
        result=loads(r["result"]),
        error=ErrorInfo.from_json(loads(r["error"])),
        attempt=int(r["attempt"]),
        created_at=db.req_dt(r["created_at"]),
        started_at=dt(r["started_at"]),
        finished_at=dt(r["finished_at"]),
        wake_at=dt(r["due_at"]) if status is RunStatus.WAITING else None,
        idempotency_key=r["idempotency_key"],
        tags=tuple(json.loads(r["tags"])),
        queue=str(r["queue"]),
        priority=int(r["priority"]),
        run_at=dt(r["run_at"]),
        replay_of=r["replay_of"],
        steps=steps,
        coalesced=int(r["coalesced"] or 0) if "coalesced" in r.keys() else 0,  # noqa: SIM118
    )


def schedule(db: Database, r: Row) -> Schedule:
    return Schedule(
        id=str(r["id"]),
        task_id=str(r["task_id"]),
        cron=str(r["cron"]),
        timezone=str(r["timezone"]),
        key=r["key"],
        payload=loads(r["payload"]),
        next_run_at=db.req_dt(r["next_run_at"]),
        last_run_at=db.dt(r["last_run_at"]),
        catch_up=str(r["catch_up"]),
        static=r["kind"] == "static",
        paused=bool(r["paused"]),
    )


def recipient(db: Database, r: Row) -> Recipient:
    start, end = r["quiet_start"], r["quiet_end"]
    return Recipient(
        id=str(r["id"]),
        email=r["email"],
        phone=r["phone"],
        locale=r["locale"],
        timezone=str(r["timezone"]),
        quiet_hours=(str(start), str(end)) if start and end else None,
        data=json.loads(r["data"]),
        created_at=db.req_dt(r["created_at"]),
        updated_at=db.req_dt(r["updated_at"]),
    )


def delivery(db: Database, r: Row) -> Delivery:
    return Delivery(
        id=str(r["id"]),
        notification_id=str(r["notification_id"]),
        channel=Channel(r["channel"]),
        type=str(r["type_id"]),
        to=str(r["recipient_id"]),
        addresses=tuple(json.loads(r["addresses"])),
        locale=str(r["locale"]),
        status=DeliveryStatus(r["status"]),
        reason=r["reason"],
        provider=r["provider"],
        provider_message_id=r["provider_message_id"],
        attempts=int(r["attempts"]),
        error=r["error"],
        subject=r["subject"],
        html=r["html"],
        text=r["text"],
        title=r["title"],
        body=r["body"],
        sms=None if r["sms"] is None else json.loads(r["sms"]),
        history=json.loads(r["history"]),
        send_at=db.dt(r["send_at"]),
        created_at=db.req_dt(r["created_at"]),
        updated_at=db.req_dt(r["updated_at"]),
        sent_at=db.dt(r["sent_at"]),
        critical=bool(r["critical"]),
        sandboxed=bool(r["sandboxed"]),
    )


def inbox_item(db: Database, r: Row) -> InboxItem:
    return InboxItem(
        id=str(r["id"]),
        recipient_id=str(r["recipient_id"]),
        type=str(r["type_id"]),
        title=r["title"],
        body=r["body"],
        data=json.loads(r["data"]),
        created_at=db.req_dt(r["created_at"]),
        read_at=db.dt(r["read_at"]),
        archived_at=db.dt(r["archived_at"]),
        delivery_id=str(r["delivery_id"]),
        seen_at=db.dt(r["seen_at"]),
        snoozed_until=db.dt(r["snoozed_until"]),
        tags=tuple(json.loads(r["tags"])),
    )


def error_json(error: ErrorInfo | None) -> str | None:
    return None if error is None else json.dumps(error.to_json())
