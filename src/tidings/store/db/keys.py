"""API keys over a backend's database object."""

from __future__ import annotations

from datetime import datetime

from tidings.store.db.database import Bound, Row
from tidings.store.keys import ApiKeyRecord, ApiKeys


class DbApiKeys(Bound, ApiKeys):
    def create(self, key: ApiKeyRecord, key_hash: str) -> None:
        params = {
            "id": key.id,
            "environment": key.environment,
            "name": key.name,
            "scope": key.scope,
            "key_hash": key_hash,
            "hint": key.hint,
            "now": self._ts(key.created_at),
        }
        with self._transaction(write=True) as tx:
            tx.run("insert_api_key", params)

    def of_environment(self, environment: str) -> list[ApiKeyRecord]:
        with self._transaction(write=False) as tx:
            rows = tx.run("list_api_keys", {"environment": environment})
        return [self._api_key(r) for r in rows]

    def find(self, key_hash: str) -> ApiKeyRecord | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("find_api_key", {"key_hash": key_hash})
        return self._api_key(rows[0]) if rows else None

    def revoke(self, environment: str, ref: str, now: datetime) -> bool:
        params = {"environment": environment, "ref": ref, "now": self._ts(now)}
        with self._transaction(write=True) as tx:
            return bool(tx.run("revoke_api_key", params))

    def _api_key(self, r: Row) -> ApiKeyRecord:
        return ApiKeyRecord(
            id=str(r["id"]),
            environment=str(r["environment"]),
            name=str(r["name"]),
            scope=str(r["scope"]),
            hint=str(r["hint"]),
            created_at=self._req(r["created_at"]),
            revoked_at=self._dt(r["revoked_at"]),
        )
