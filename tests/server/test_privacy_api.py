"""Privacy over HTTP: GET /recipients/{id}/export, POST /recipients/{id}/erase and
GET /erasures, with admin keys only, on both stores."""

from __future__ import annotations

import json

from tests.server.harness import client, new_key
from tidings import Tidings


def test_export_erase_and_the_audit(notify_api: Tidings, notify_url: str) -> None:
    admin = new_key(notify_api)
    publish = new_key(notify_api, "publish")
    notify_api.recipients.add_push_token("alice", "ExponentPushToken[alice-1]")
    with client(notify_url, publish) as c:
        refused = [c.get("/api/v1/recipients/alice/export"),
                   c.post("/api/v1/recipients/alice/erase"),
                   c.get("/api/v1/erasures")]  # fmt: skip
    with client(notify_url) as c:
        anonymous = c.post("/api/v1/recipients/alice/erase")
    assert notify_api.recipients.get("alice").email == "alice@example.com"  # refused: kept
    with client(notify_url, admin) as c:
        exported = c.get("/api/v1/recipients/alice/export")
        erased = c.post("/api/v1/recipients/alice/erase")
        again = c.post("/api/v1/recipients/alice/erase")
        export_gone = c.get("/api/v1/recipients/alice/export")
        audit = c.get("/api/v1/erasures", params={"limit": 5})
        bad_limit = c.get("/api/v1/erasures", params={"limit": 0})
        bob = c.get("/api/v1/recipients/bob")
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert anonymous.status_code == 401

    assert exported.status_code == 200, exported.text
    body = exported.json()
    assert body["recipient"]["email"] == "alice@example.com"
    assert body["push_tokens"][0]["token"] == "ExponentPushToken[alice-1]"

    assert erased.status_code == 200, erased.text
    record = erased.json()
    assert record["actor"].startswith("api key test-admin")
    assert record["counts"]["recipients"] == 1
    assert record["counts"]["push_tokens"] == 1
    assert "alice" not in json.dumps(record["counts"])
    assert again.status_code == 404
    assert "alice" in again.json()["error"]["message"]
    assert export_gone.status_code == 404
    assert [a["id"] for a in audit.json()] == [record["id"]]
    assert bad_limit.status_code == 422
    assert bob.status_code == 200  # another recipient is untouched
