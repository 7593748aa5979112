"""Routing many notifications at once, inside a caller's transaction: what routing reads
about a page of recipients (one statement per table) and the multi-row writes that record
the page (one statement per table, whatever the page's size).

Shared by :class:`~tidings.store.db.notifications.DbNotifications` (one notification,
a page of one) and :class:`~tidings.store.db.broadcasts.DbBroadcasts`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from tidings.records.notify import Channel
from tidings.store.db import rows as to
from tidings.store.db.database import Database, Tx
from tidings.store.db.inbox import inbox_change
from tidings.store.db.runs import insert_run
from tidings.store.notifications import NewNotification
from tidings.store.recipients import RoutingInputs


def json_ts(db: Database, value: datetime | None) -> Any:
    """A time as a JSON row carries it: the backend's own value, or ISO text."""
    stored = db.ts(value)
    return stored.isoformat() if isinstance(stored, datetime) else stored


def read_inputs(db: Database, tx: Tx, ids: Sequence[str]) -> dict[str, RoutingInputs]:
    """Routing inputs of every existing recipient among ``ids`` (four statements)."""
    array = db.array(list(ids))
    rows = tx.run("recipients_many", {"ids": array})
    recipients = {str(r["id"]): to.recipient(db, r) for r in rows}
    if not recipients:
        return {}
    tokens: dict[str, list[str]] = {}
    for t in tx.run("push_tokens_many", {"ids": array}):
        tokens.setdefault(str(t["recipient_id"]), []).append(str(t["token"]))
    prefs: dict[str, dict[tuple[str, str], bool]] = {}
    for p in tx.run("preferences_many", {"ids": array}):
        key = (str(p["type_id"]), str(p["channel"]))
        prefs.setdefault(str(p["recipient_id"]), {})[key] = bool(p["enabled"])
    addresses: list[dict[str, str]] = []
    for rid, r in recipients.items():
        if r.email:
            addresses.append({"channel": Channel.EMAIL.value, "address": r.email})
        if r.phone:
            addresses.append({"channel": Channel.SMS.value, "address": r.phone})
        addresses += [{"channel": Channel.PUSH.value, "address": t} for t in tokens.get(rid, ())]
    suppressed: set[tuple[str, str]] = set()
    if addresses:
        rows = tx.run("suppressions_many", {"addresses": json.dumps(addresses)})
        suppressed = {(str(s["channel"]), str(s["address"])) for s in rows}
    out: dict[str, RoutingInputs] = {}
    for rid, r in recipients.items():
        own = {(Channel.EMAIL.value, r.email), (Channel.SMS.value, r.phone)}
        own |= {(Channel.PUSH.value, t) for t in tokens.get(rid, ())}
        out[rid] = RoutingInputs(
            recipient=r,
            tokens=tokens.get(rid, []),
            preferences=prefs.get(rid, {}),
            suppressed={pair for pair in own if pair in suppressed},
        )
    return out


def _reserve(
    db: Database, tx: Tx, notifications: Sequence[NewNotification], now: datetime, ttl: timedelta
) -> dict[str, str]:
    """Reserve every dedup key: ``{key: the notification holding it}``."""
    reserve = [{"key": n.dedup_key, "id": n.id} for n in notifications]
    params = {"rows": json.dumps(reserve), "now": db.ts(now), "expires_at": db.ts(now + ttl)}
    holders = {
        str(r["key"]): str(r["notification_id"]) for r in tx.run("reserve_dedup_many", params)
    }
    mine = {n.dedup_key: n.id for n in notifications}
    others = {k: h for k, h in holders.items() if h != mine[k]}
    if not others:
        return holders
    # A key held by a notification that no longer exists (deleted): take it over.
    alive = {
        str(r["id"])
        for r in tx.run("existing_notifications", {"ids": db.array(list(others.values()))})
    }
    for key, holder in others.items():
        if holder not in alive:
            take = {"key": key, "notification_id": mine[key], "expires_at": params["expires_at"]}
            tx.run("take_dedup", take)
            holders[key] = mine[key]
    return holders


def record_notifications(
    db: Database,
    tx: Tx,
    notifications: Sequence[NewNotification],
    now: datetime,
    dedup_ttl: timedelta,
    idempotency_ttl: timedelta,
    broadcast_id: str | None = None,
) -> dict[str, str]:
    """Reserve each notification's dedup key and write those whose key is now theirs,
    with their deliveries, send runs, inbox items and change-feed rows, in multi-row
    statements inside ``tx``. Returns ``{dedup key: notification id holding it}``."""
    if not notifications:
        return {}
    ts_now = db.ts(now)
    holders = _reserve(db, tx, notifications, now, dedup_ttl)
    fresh = [n for n in notifications if holders.get(n.dedup_key) == n.id]
    if not fresh:
        return holders
    tx.run(
        "insert_notifications_many",
        {
            "rows": json.dumps(
                [
                    {"id": n.id, "type_id": n.type_id, "recipient_id": n.recipient_id,
                     "dedup_key": n.dedup_key, "data": n.data, "run_id": n.run_id}
                    for n in fresh
                ]
            ),
            "now": ts_now,
        },
    )  # fmt: skip
    deliveries: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    for n in fresh:
        for d in n.deliveries:
            deliveries.append(
                {
                    "id": d.id, "notification_id": n.id, "channel": d.channel.value,
                    "type_id": n.type_id, "recipient_id": n.recipient_id,
                    "addresses": json.dumps(list(d.addresses)), "locale": d.locale,
                    "critical": n.critical, "status": d.status.value, "reason": d.reason,
                    "error": d.error, "subject": d.subject, "html": d.html, "text": d.text,
                    "title": d.title, "body": d.body, "sms": d.sms, "data": d.data,
                    "send_at": json_ts(db, d.send_at),
                }
            )  # fmt: skip
            if d.run is not None:
                insert_run(db, tx, d.run, now, idempotency_ttl)
            if d.inbox_item_id is not None:
                # the in-app delivery's data: the notification's, plus what the channel
                # adds (a question's actions, see notify/answers.py)
                data = d.data if d.data not in ("", "{}") else n.data
                items.append(
                    {"id": d.inbox_item_id, "recipient_id": n.recipient_id,
                     "delivery_id": d.id, "type_id": n.type_id, "title": d.title,
                     "body": d.body, "data": data, "tags": json.dumps(list(n.tags))}
                )  # fmt: skip
    if deliveries:
        tx.run(
            "insert_deliveries_many",
            {"rows": json.dumps(deliveries), "now": ts_now, "broadcast_id": broadcast_id},
        )
    if items:
        tx.run("insert_inbox_items_many", {"rows": json.dumps(items), "now": ts_now})
        # One change per recipient per page (a page holds a recipient once); the
        # sequence rows' locks are held to commit, so per recipient seq order is commit
        # order.
        ids = sorted({i["recipient_id"] for i in items})
        if len(ids) == len(items):
            seq_rows = tx.run("next_inbox_seqs", {"ids": db.array(ids)})
            seqs = {str(r["recipient_id"]): int(r["seq"]) for r in seq_rows}
            changes = [
                {"recipient_id": i["recipient_id"], "seq": seqs[i["recipient_id"]],
                 "item_id": i["id"]}
                for i in items
            ]  # fmt: skip
            tx.run("insert_inbox_changes_many", {"rows": json.dumps(changes), "now": ts_now})
        else:  # a recipient twice: one sequence step per item
            for i in items:
                inbox_change(db, tx, i["recipient_id"], "created", i["id"], now)
    return holders
