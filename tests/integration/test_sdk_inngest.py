"""The official Inngest SDK (latest 4.x and 3.x from npm) sending events to a live
tidings ``serve`` + ``worker`` on SQLite and PostgreSQL, configured only by
INNGEST_EVENT_KEY and INNGEST_BASE_URL (node/inngest.mjs makes the calls)."""

from __future__ import annotations

import time
import uuid

import pytest

from tidings.records import RunStatus
from tidings.store.dashboard import RunFilter

from .sdkstack import Stack, run_node, stack

__all__ = ["stack"]  # the fixture: one live stack per database, for this module
pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("version", ["v4", "v3"])
def test_the_inngest_sdk_sends_events(stack: Stack, version: str) -> None:
    tag = f"{version}{uuid.uuid4().hex[:8]}"
    env = {"INNGEST_EVENT_KEY": stack.publish_key, "INNGEST_BASE_URL": stack.url}
    out = run_node("inngest.mjs", version, tag, env=env)

    assert out["one"]["ids"] == [f"one-{tag}"]  # with `v` and `user`, accepted
    assert out["again"]["ids"] == [f"one-{tag}"]  # the same id again: accepted once
    assert len(out["many"]["ids"]) == 2
    assert "422" in out["bad"]["error"]["message"]
    assert "tidings/" in out["bad"]["error"]["message"]
    assert "401" in out["badKey"]["error"]["message"]

    def synced() -> list[str]:
        runs = stack.reader.store.dashboard.search_runs(RunFilter(task_id="on-synced"), None, 500)
        return sorted(
            r.payload.get("noteId", "")
            for r in runs
            if r.status is RunStatus.COMPLETED and tag in str(r.payload)
        )

    deadline = time.monotonic() + 30
    while synced() != [f"n1-{tag}", f"n2-{tag}", f"n3-{tag}"]:
        assert time.monotonic() < deadline, synced()
        time.sleep(0.1)
    # the batch with a bad event started nothing
    runs = stack.reader.store.dashboard.search_runs(RunFilter(task_id="on-synced"), None, 500)
    assert not [r for r in runs if r.payload == {"ok": True}]
