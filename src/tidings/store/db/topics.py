"""Topics over a backend's database object."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime

from tidings.store.db.database import Bound
from tidings.store.topics import Topics


class DbTopics(Bound, Topics):
    def subscribe(
        self, topic: str, recipient_ids: Sequence[str], now: datetime
    ) -> builtins.list[str]:
        ids = self._array(sorted(set(recipient_ids)))
        with self._transaction(write=True) as tx:
            missing = [str(r["id"]) for r in tx.run("missing_recipients", {"ids": ids})]
            if missing:
                return missing
            tx.run("subscribe_topic", {"topic": topic, "ids": ids, "now": self._ts(now)})
        return []

    def unsubscribe(self, topic: str, recipient_ids: Sequence[str]) -> int:
        with self._transaction(write=True) as tx:
            tx.run("unsubscribe_topic", {"topic": topic, "ids": self._array(list(recipient_ids))})
            return tx.rowcount()

    def subscribers(self, topic: str, after: str, limit: int) -> builtins.list[str]:
        with self._autocommit(write=False) as tx:
            rows = tx.run("topic_subscribers", {"topic": topic, "after": after, "limit": limit})
        return [str(r["recipient_id"]) for r in rows]

    def of(self, recipient_id: str) -> builtins.list[str]:
        with self._autocommit(write=False) as tx:
            rows = tx.run("recipient_topics", {"id": recipient_id})
        return [str(r["topic"]) for r in rows]

    def delete(self, topic: str) -> int:
        with self._transaction(write=True) as tx:
            tx.run("delete_topic", {"topic": topic})
            return tx.rowcount()

    def count(self, topic: str) -> int:
        with self._autocommit(write=False) as tx:
            return int(tx.run("count_topic", {"topic": topic})[0]["n"])

    def list(self, after: str, limit: int) -> builtins.list[tuple[str, int]]:
        with self._autocommit(write=False) as tx:
            rows = tx.run("list_topics", {"after": after, "limit": limit})
        return [(str(r["topic"]), int(r["subscribers"])) for r in rows]
