"""Erase and export over a backend's database object.

What is theirs: the profile and its tokens, preferences and change log; suppressions of
their addresses; topic subscriptions and broadcast audience rows; inbox items and feed;
outbox messages; notifications and deliveries addressed to them; and the runs that name
them (``recipient_key`` in the payload, or a notification of the run sent to them) with
their steps, logs, waits, keys and digests, plus the events, delayed events and
schedules whose data holds them at ``recipient_key``.

What erasing does, per table (docs/operations/privacy.md says the same to operators):

- removed: recipients, push_tokens, preferences, preference_changes, suppressions of
  their addresses, topic_subscribers, broadcast_audience, inbox_items, inbox_changes,
  inbox_sequences, outbox, notify_dedup of their notifications, idempotency_keys and
  schedules of their runs;
- anonymised, kept for counts: notifications and deliveries (the recipient replaced by
  ``erased:<erasure id>``, contents, addresses and provider text removed);
- redacted in place: the text of their runs, steps, logs, events, delayed events, waits,
  cancel keys, flow gates and digests, where every occurrence of the recipient id (as a
  whole word), their email addresses, phone numbers and push tokens becomes the marker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from tidings.records.notify import Erasure
from tidings.store.db.database import Bound, Row, Tx
from tidings.store.privacy import (
    ERASED_PREFIX,
    NewErasure,
    Privacy,
    Subject,
)

_TIMES = {"at", "ts", "since", "snoozed_until"}
_JSON = {"payload", "result", "data", "tags", "addresses", "history", "change", "item",
         "channels", "run_ids", "match_paths", "match_key"}  # fmt: skip
_FLAGS = {"active", "enabled", "critical", "sandboxed", "paused"}


# The run-owned tables scrubbed in place: (table, select, update, the columns naming the
# row, the columns scrubbed, the column whose old value also names the row).
_RUN_TABLES: tuple[tuple[str, str, str, tuple[str, ...], tuple[str, ...], str | None], ...] = (
    ("runs", "privacy_runs", "privacy_update_run", ("id",),
     ("payload", "result", "error", "idempotency_key", "concurrency_key", "rate_key", "tags"),
     None),
    ("steps", "privacy_steps", "privacy_update_step", ("run_id", "name"), ("result", "error"),
     None),
    ("run_logs", "privacy_run_logs", "privacy_update_log", ("run_id", "at"), ("message",),
     "message"),
    ("event_waits", "privacy_event_waits", "privacy_update_event_wait", ("run_id", "step"),
     ("match_key",), None),
    ("run_cancel_keys", "privacy_cancel_keys", "privacy_update_cancel_key",
     ("event_name", "task_id", "run_id"), ("key",), "key"),
    ("flow_gates", "privacy_flow_gates", "privacy_update_flow_gate", ("task_id",), ("key",),
     "key"),
    ("wait_tokens", "privacy_wait_tokens", "privacy_update_wait_token", ("id",),
     ("name", "data", "completed_by"), None),
    ("digests", "privacy_digests", "privacy_update_digest", ("id",), ("key",), None),
    ("digest_items", "privacy_digest_items", "privacy_update_digest_item", ("source",),
     ("item",), None),
)  # fmt: skip


class Scrubber:
    """Replaces every mention of one recipient in free text with the erased marker."""

    def __init__(self, recipient_id: str, addresses: Iterable[str], marker: str) -> None:
        self.marker = marker
        terms = {a for a in addresses if a}
        terms |= {a[1:] for a in terms if a.startswith("+")}  # a phone without its "+"
        terms |= {json.dumps(t)[1:-1] for t in terms}  # as it reads inside JSON text
        words = {recipient_id, json.dumps(recipient_id)[1:-1]}
        # longest first, so an email address goes whole before its local part could match
        alternatives = [re.escape(t) for t in sorted(terms - words, key=len, reverse=True)]
        alternatives += [
            rf"(?<![A-Za-z0-9]){re.escape(w)}(?![A-Za-z0-9])"
            for w in sorted(words, key=len, reverse=True)
        ]
        self._pattern = re.compile("|".join(alternatives), re.IGNORECASE)

    def __call__(self, text: Any) -> Any:
        if not isinstance(text, str):
            return text
        return self._pattern.sub(self.marker, text)


class DbPrivacy(Bound, Privacy):
    def _runs(self, tx: Tx, subject: Subject) -> list[str]:
        ids = {str(r["id"]) for r in tx.run("privacy_runs_by_notifications", self._who(subject))}
        if subject.key_path is not None:
            ids |= {str(r["id"]) for r in tx.run("privacy_runs_by_path", self._who(subject))}
        sent = {"id": subject.recipient_id, "prefix": subject.delivery_key_prefix,
                "batch_task": subject.batch_task}  # fmt: skip
        ids |= {str(r["id"]) for r in tx.run("privacy_runs_by_deliveries", sent)}
        return sorted(ids)

    def _who(self, subject: Subject) -> dict[str, Any]:
        path = subject.key_path
        return {
            "id": subject.recipient_id,
            "path": None if path is None else self._db.json_path(path),
            # the id as it reads inside JSON text: a cheap test before a payload is parsed
            "needle": json.dumps(subject.recipient_id)[1:-1],
        }

    def _by_path(self, tx: Tx, query: str, subject: Subject) -> list[Row]:
        return [] if subject.key_path is None else tx.run(query, self._who(subject))

    def _addresses(self, tx: Tx, who: dict[str, Any]) -> list[str]:
        found: set[str] = set()
        for r in tx.run("privacy_recipient", who):
            found |= {a for a in (r["email"], r["phone"]) if a}
        found |= {str(r["token"]) for r in tx.run("privacy_push_tokens", who)}
        for r in tx.run("privacy_deliveries", who):
            found |= {str(a) for a in json.loads(r["addresses"]) if a != who["id"]}
        return sorted(found)

    # -- export ------------------------------------------------------------------------
    def export(self, subject: Subject) -> dict[str, Any] | None:
        who = self._who(subject)
        with self._transaction(write=False) as tx:
            if not tx.run("privacy_known", who):
                return None
            addresses = self._addresses(tx, who)
            runs = self._runs(tx, subject)
            ids = {"ids": self._array(runs)}
            profile = tx.run("privacy_recipient", who)
            out: dict[str, Any] = {
                "recipient": self._plain(profile[0]) if profile else None,
                "push_tokens": self._rows(tx.run("privacy_push_tokens", who)),
                "preferences": self._rows(tx.run("privacy_preferences", who)),
                "preference_changes": self._rows(tx.run("privacy_preference_changes", who)),
                "suppressions": self._rows(
                    tx.run("privacy_suppressions", {"addresses": self._array(addresses)})
                ),
                "topics": self._rows(tx.run("privacy_topics", who)),
                "inbox_items": self._rows(tx.run("privacy_inbox_items", who)),
                "notifications": self._rows(tx.run("privacy_notifications", who)),
                "deliveries": self._rows(tx.run("privacy_deliveries", who)),
                "outbox": self._rows(tx.run("privacy_outbox", who)),
                "questions": self._rows(tx.run("privacy_questions", who)),
                "broadcasts": self._rows(tx.run("privacy_broadcasts", who)),
                "runs": self._runs_export(tx, ids),
                "digests": self._digests(tx, ids),
                "events": self._rows(self._by_path(tx, "privacy_events", subject)),
                "scheduled_events": self._rows(
                    self._by_path(tx, "privacy_scheduled_events", subject)
                ),
                "schedules": self._rows(self._by_path(tx, "privacy_schedules", subject)),
            }
        return out

    def _runs_export(self, tx: Tx, ids: dict[str, Any]) -> list[dict[str, Any]]:
        steps: dict[str, list[dict[str, Any]]] = {}
        logs: dict[str, list[dict[str, Any]]] = {}
        for r in tx.run("privacy_steps", ids):
            steps.setdefault(str(r["run_id"]), []).append(self._plain(r, errors_json=True))
        for r in tx.run("privacy_run_logs", ids):
            logs.setdefault(str(r["run_id"]), []).append(self._plain(r))
        tokens: dict[str, list[dict[str, Any]]] = {}
        for r in tx.run("privacy_wait_tokens_export", ids):
            tokens.setdefault(str(r["run_id"]), []).append(self._plain(r))
        return [
            {
                **self._plain(r, errors_json=True),
                "steps": steps.get(str(r["id"]), []),
                "logs": logs.get(str(r["id"]), []),
                "wait_tokens": tokens.get(str(r["id"]), []),
            }
            for r in tx.run("privacy_runs", ids)
        ]

    def _digests(self, tx: Tx, ids: dict[str, Any]) -> list[dict[str, Any]]:
        items: dict[str, list[dict[str, Any]]] = {}
        for r in tx.run("privacy_digest_items", ids):
            items.setdefault(str(r["digest_id"]), []).append(self._plain(r))
        return [
            {**self._plain(r), "items": items.get(str(r["id"]), [])}
            for r in tx.run("privacy_digests", ids)
        ]

    def _rows(self, rows: list[Row]) -> list[dict[str, Any]]:
        return [self._plain(r) for r in rows]

    def _plain(self, row: Row, *, errors_json: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in row.keys():  # noqa: SIM118 - sqlite3.Row has keys(), not items()
            value = row[name]
            if value is None:
                out[name] = None
            elif name in _TIMES or name.endswith("_at"):
                when = self._dt(value)
                out[name] = when.isoformat() if when is not None else None
            elif name in _FLAGS:
                out[name] = bool(value)
            elif name in _JSON or (errors_json and name == "error"):
                out[name] = _json(value)
            else:
                out[name] = value
        return out

    # -- erase -------------------------------------------------------------------------
    def erase(self, subject: Subject, erasure: NewErasure, now: datetime) -> Erasure | None:
        who = self._who(subject)
        marker = ERASED_PREFIX + erasure.id
        with self._transaction(write=True) as tx:
            if not tx.run("privacy_known", who):
                return None
            addresses = self._addresses(tx, who)
            scrub = Scrubber(subject.recipient_id, addresses, marker)
            runs = self._runs(tx, subject)
            counts: dict[str, int] = {}
            self._redact_runs(tx, runs, scrub, counts)
            self._redact_by_path(tx, subject, scrub, counts)
            self._remove(tx, who, addresses, counts)
            tx.run("privacy_anonymise_notifications", {**who, "marker": marker})
            counts["notifications"] = tx.rowcount()
            tx.run("privacy_anonymise_deliveries", {**who, "marker": marker})
            counts["deliveries"] = tx.rowcount()
            counts = {table: n for table, n in sorted(counts.items()) if n}
            record = {"id": erasure.id, "now": self._ts(now), "actor": erasure.actor}
            tx.run("privacy_insert_erasure", {**record, "counts": json.dumps(counts)})
            tx.run("privacy_mark_erased", {**record, "digest": erasure.digest})
        return Erasure(erasure.id, now, erasure.actor, counts)

    def _remove(
        self, tx: Tx, who: dict[str, Any], addresses: list[str], counts: dict[str, int]
    ) -> None:
        # notify_dedup before the notifications it names are anonymised
        tx.run("privacy_broadcast_cursor", who)
        counts["broadcasts"] = tx.rowcount()
        steps = [
            ("suppressions", "privacy_delete_suppressions", {"addresses": self._array(addresses)}),
            ("notify_dedup", "privacy_delete_dedup", who),
            ("push_tokens", "privacy_delete_push_tokens", who),
            ("preferences", "privacy_delete_preferences", who),
            ("preference_changes", "privacy_delete_preference_changes", who),
            ("topic_subscribers", "privacy_delete_topics", who),
            ("broadcast_audience", "privacy_delete_audience", who),
            ("inbox_items", "privacy_delete_inbox_items", who),
            ("inbox_changes", "privacy_delete_inbox_changes", who),
            ("inbox_sequences", "privacy_delete_inbox_sequence", who),
            ("outbox", "privacy_delete_outbox", who),
            ("questions", "privacy_delete_questions", who),
            ("recipients", "privacy_delete_recipient", who),
        ]
        for table, query, params in steps:
            tx.run(query, params)
            counts[table] = tx.rowcount()

    def _redact_runs(
        self, tx: Tx, runs: list[str], scrub: Scrubber, counts: dict[str, int]
    ) -> None:
        ids = {"ids": self._array(runs)}
        for table, select, update, keys, fields, old in _RUN_TABLES:
            counts[table] = self._rewrite(tx, select, ids, update, keys, fields, scrub, old=old)
        counts["events"] = self._rewrite(tx, "privacy_token_events", ids, "privacy_update_event",
                                         ("id",), ("data",), scrub)  # fmt: skip
        tx.run("privacy_delete_idempotency_keys", ids)
        counts["idempotency_keys"] = tx.rowcount()

    def _redact_by_path(
        self, tx: Tx, subject: Subject, scrub: Scrubber, counts: dict[str, int]
    ) -> None:
        if subject.key_path is None:
            return
        who = self._who(subject)
        counts["events"] += self._rewrite(tx, "privacy_events", who, "privacy_update_event",
                                          ("id",), ("data",), scrub)  # fmt: skip
        counts["scheduled_events"] = self._rewrite(tx, "privacy_scheduled_events", who,
            "privacy_update_scheduled_event", ("id",), ("data",), scrub)  # fmt: skip
        # a schedule of theirs would go on starting runs about them: it goes
        schedules = [str(r["id"]) for r in tx.run("privacy_schedules", who)]
        tx.run("privacy_delete_schedules", {"ids": self._array(schedules)})
        counts["schedules"] = tx.rowcount()

    def _rewrite(
        self,
        tx: Tx,
        select: str,
        params: dict[str, Any],
        update: str,
        keys: tuple[str, ...],
        fields: tuple[str, ...],
        scrub: Scrubber,
        *,
        old: str | None = None,
    ) -> int:
        """Scrub ``fields`` of the rows ``select`` reads; write back those that changed."""
        changed = 0
        for r in tx.run(select, params):
            new = {f: scrub(r[f]) for f in fields}
            if all(new[f] == r[f] for f in fields):
                continue
            values = {k: r[k] for k in keys}
            if old is not None:
                values["old"] = r[old]
            tx.run(update, {**values, **new})
            changed += 1
        return changed

    # -- the marker and the audit ------------------------------------------------------
    def erased(self, digest: str) -> str | None:
        with self._autocommit(write=False) as tx:
            rows = tx.run("privacy_erased", {"digest": digest})
        return str(rows[0]["erasure_id"]) if rows else None

    def erasure(self, erasure_id: str) -> Erasure | None:
        with self._autocommit(write=False) as tx:
            rows = tx.run("privacy_erasure", {"id": erasure_id})
        return self._record(rows[0]) if rows else None

    def erasures(self, limit: int) -> list[Erasure]:
        with self._autocommit(write=False) as tx:
            rows = tx.run("privacy_erasures", {"limit": limit})
        return [self._record(r) for r in rows]

    def _record(self, r: Row) -> Erasure:
        return Erasure(
            id=str(r["id"]),
            erased_at=self._req(r["erased_at"]),
            actor=str(r["actor"]),
            counts={str(k): int(v) for k, v in json.loads(r["counts"]).items()},
        )


def _json(value: Any) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value
