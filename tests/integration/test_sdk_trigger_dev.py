"""The official Trigger.dev SDK (latest 4.x and 3.x from npm) against a live tidings
``serve`` + ``worker`` on SQLite and PostgreSQL, configured only by TRIGGER_API_URL and
TRIGGER_SECRET_KEY: the note-taking product's calls exactly as its backend makes them,
then every call tidings maps. node/trigger.mjs makes the calls; here we check what the
SDK got back and what the database holds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tidings.records import RunStatus
from tidings.store.dashboard import RunFilter

from .sdkstack import Stack, run_node, stack

__all__ = ["stack"]  # the fixture: one live stack per database, for this module

pytestmark = pytest.mark.timeout(600)


def _runs(stack: Stack, **filters: Any) -> list[Any]:
    return stack.reader.store.dashboard.search_runs(RunFilter(**filters), None, 500)


def _error(result: Any) -> dict[str, Any]:
    assert isinstance(result, dict), result
    assert "error" in result, result
    error: dict[str, Any] = result["error"]
    return error


@pytest.mark.parametrize("version", ["v4", "v3"])
def test_the_trigger_dev_sdk_works_unchanged(stack: Stack, version: str) -> None:
    tag = f"{version}{uuid.uuid4().hex[:8]}"
    env = {"TRIGGER_API_URL": stack.url, "TRIGGER_SECRET_KEY": stack.admin_key}
    out = run_node("trigger.mjs", version, tag, env=env)

    _check_seed_b(stack, out, tag, version)
    _check_options_and_packets(stack, out, tag, version)
    _check_delay_cancel_replay(stack, out)
    _check_batches(stack, out, tag, version)
    _check_list(stack, out, tag)
    _check_schedules(stack, out, tag)
    _check_errors(out, version)
    log = stack.log_text()
    assert "Traceback" not in log
    assert " 500 " not in log


def _check_seed_b(stack: Stack, out: dict[str, Any], tag: str, version: str) -> None:
    first, again = out["seqFirst"], out["seqAgain"]
    assert first["id"] == again["id"]  # the same idempotency key twice: one run
    if version == "v4":  # 3.x reads isCached from the response but does not hand it on
        assert (first["isCached"], again["isCached"]) == (False, True)
    assert out["digestFirst"]["id"] == out["digestAgain"]["id"]
    runs = [
        r
        for r in _runs(stack, task_id="email-sequence-runner")
        if r.payload["userId"] == f"user-{tag}"
    ]
    assert [r.id for r in runs] == [first["id"]]
    assert runs[0].payload == {"userId": f"user-{tag}", "sequenceName": "onboarding"}
    done = out["seqDone"]
    assert (done["status"], done["isSuccess"]) == ("COMPLETED", True)
    assert done["output"] == {"userId": f"user-{tag}", "sent": ["onboarding:0"]}
    assert out["digestDone"]["output"] == {"digestId": f"digest-{tag}", "sent": True}
    # x-trigger-jwt: a token that reads this run and no other
    token = first["publicAccessToken"]
    with httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {token}"}) as c:
        assert c.get(f"/api/v3/runs/{first['id']}").json()["status"] == "COMPLETED"
        assert c.get(f"/api/v3/runs/{out['digestFirst']['id']}").status_code == 403
        assert c.get("/api/v1/runs").status_code == 401


def _check_options_and_packets(stack: Stack, out: dict[str, Any], tag: str, version: str) -> None:
    options = out["options"]
    assert "error" not in options, options
    assert options["first"]["id"] == options["second"]["id"]
    done = options["done"]
    # SuperJSON: the Date arrives as its ISO string, the undefined property not at all
    assert done["payload"] == {"when": "2026-03-01T09:00:00.000Z", "list": [1, "two"]}
    assert done["output"] == done["payload"]
    assert sorted(done["tags"]) == sorted([f"t-{tag}", "sdk"])
    run = stack.reader.get_run(done["id"])
    assert run.priority == (5 if version == "v4" else 0)  # 3.x has no priority option
    assert run.idempotency_key == options["key"]  # idempotencyKeys.create's hash, as sent
    assert out["textPayload"] == "plain text"


def _check_delay_cancel_replay(stack: Stack, out: dict[str, Any]) -> None:
    delayed = out["delayed"]
    assert "error" not in delayed, delayed
    before = delayed["before"]
    assert before["status"] == "DELAYED"
    until = datetime.fromisoformat(before["delayedUntil"].replace("Z", "+00:00"))
    created = datetime.fromisoformat(before["createdAt"].replace("Z", "+00:00"))
    assert timedelta(minutes=59) < until - created <= timedelta(hours=1, seconds=5)
    moved = datetime.fromisoformat(delayed["moved"]["delayedUntil"].replace("Z", "+00:00"))
    assert moved - datetime.now(UTC) < timedelta(minutes=1)
    assert delayed["done"]["status"] == "COMPLETED"
    assert _error(out["rescheduleFinished"])["status"] == 422

    cancel = out["cancel"]
    assert "error" not in cancel, cancel
    assert cancel["after"]["status"] == "CANCELED"
    assert stack.reader.get_run(cancel["cancelled"]["id"]).status is RunStatus.CANCELLED

    replay = out["replay"]
    assert replay["replayed"]["id"] != out["digestFirst"]["id"]
    assert replay["done"]["status"] == "COMPLETED"
    assert stack.reader.get_run(replay["replayed"]["id"]).replay_of == out["digestFirst"]["id"]


def _check_batches(stack: Stack, out: dict[str, Any], tag: str, version: str) -> None:
    first, again = out["batch50"], out["batch50Again"]
    assert "error" not in first, first
    assert "error" not in again, again
    bulk = _runs(stack, tag=f"bulk-{tag}")
    assert len(bulk) == 50  # and the same 50 items again started nothing more
    assert sorted(r.payload["i"] for r in bulk) == list(range(50))
    if version == "v4":
        assert (first["runCount"], again["runCount"]) == (50, 50)
    else:
        assert [r["isCached"] for r in first["runs"]] == [False] * 50
        assert [r["isCached"] for r in again["runs"]] == [True] * 50
        assert [r["id"] for r in first["runs"]] == [r["id"] for r in again["runs"]]
        assert {r["id"] for r in first["runs"]} == {r.id for r in bulk}
    for name in ("batchTrigger", "batchByTask"):
        assert "error" not in out[name], out[name]
    assert sorted(r.task_id for r in _runs(stack, tag=f"multi-{tag}")) == [
        "digest-send-for-user",
        "echo",
    ]
    assert len(_runs(stack, tag=f"bytask-{tag}")) == 2
    # one unknown task in a batch: 404 naming it, and no run of the batch started
    bad = _error(out["batchBad"])
    assert 404 in (bad["status"], (bad.get("cause") or {}).get("status"))
    assert "no-such-task" in bad["message"]
    assert _runs(stack, tag=f"bad-{tag}") == []


def _check_list(stack: Stack, out: dict[str, Any], tag: str) -> None:
    listed = out["list"]
    assert "error" not in listed, listed
    assert sorted(listed["bulk"]) == sorted(r.id for r in _runs(stack, tag=f"bulk-{tag}"))
    assert listed["done"]
    assert all(
        (r["status"], r["task"]) == ("COMPLETED", "email-sequence-runner") for r in listed["done"]
    )
    assert listed["bad"] == 0
    assert listed["multi"] == ["digest-send-for-user", "echo"]


def _check_schedules(stack: Stack, out: dict[str, Any], tag: str) -> None:
    s = out["schedules"]
    assert "error" not in s, s
    made = s["made"]
    assert (made["task"], made["deduplicationKey"], made["externalId"]) == (
        "nightly",
        f"nightly-{tag}",
        f"user-{tag}",
    )
    assert (made["timezone"], made["active"], made["generator"]["expression"]) == (
        "Asia/Ho_Chi_Minh",
        True,
        "0 3 * * *",
    )
    assert s["again"]["id"] == made["id"]  # the same deduplicationKey updates it
    assert s["again"]["generator"]["expression"] == "0 4 * * *"
    assert s["updated"]["id"] == made["id"]
    assert (s["updated"]["generator"]["expression"], s["updated"]["externalId"]) == (
        "30 5 * * *",
        f"user-{tag}",
    )
    assert s["got"]["generator"]["expression"] == "30 5 * * *"
    assert made["id"] in s["listed"]
    assert (s["off"]["active"], s["on"]["active"]) == (False, True)
    assert s["deleted"] == {"id": made["id"]}
    assert _error(s["gone"])["status"] == 404
    assert all(x.key != f"nightly-{tag}" for x in stack.reader.schedules.list())


def _check_errors(out: dict[str, Any], version: str) -> None:
    unknown = _error(out["unknownTask"])
    assert (unknown["name"], unknown["status"]) == ("NotFoundError", 404)
    assert "no-such-task" in unknown["message"]
    bad = _error(out["badDelay"])
    assert (bad["name"], bad["status"]) == ("UnprocessableEntityError", 422)
    assert "delay" in bad["message"]
    assert _error(out["unknownRun"])["status"] == 404
    key = _error(out["badKey"])
    assert (key["name"], key["status"]) == ("AuthenticationError", 401)


def test_a_publish_key_triggers_but_reads_no_runs(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {stack.publish_key}", "trigger-version": "4.8.3"}
    with httpx.Client(base_url=stack.url, headers=headers) as c:
        made = c.post(
            "/api/v1/tasks/echo/trigger",
            json={"payload": '{"a":1}', "options": {"payloadType": "application/json"}},
        )
        assert made.status_code == 201
        assert made.json()["isCached"] is False
        assert c.get(f"/api/v3/runs/{made.json()['id']}").status_code == 403
        assert c.get("/api/v1/runs", params={"page[size]": "5"}).status_code == 403
