"""Issue 22, finding 4: a failing POST /e/{key} never logs the key, nor anything else
secret; tidings.redaction over representative lines."""

from __future__ import annotations

import logging

import pytest

from tests.logwatch import watching
from tests.server.harness import client, new_key
from tidings import Tidings
from tidings.redaction import redact


def test_a_failing_inngest_post_logs_the_route_not_the_key(
    api_app: Tidings, base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = new_key(api_app, "publish")
    with watching() as watch, caplog.at_level(logging.DEBUG), client(base_url) as c:
        for path in (f"/e/{key}", f"/api/v1/e/{key}"):
            c.post(
                path, content="[" * 950 + "]" * 950, headers={"Content-Type": "application/json"}
            )
            c.post(
                path, json={"name": "x", "data": "\ud800".encode("utf-16", "surrogatepass").hex()}
            )
        logging.getLogger("tidings.server").error("POST /e/%s failed", key)  # forced leak
    assert watch.leaks == []
    assert key not in caplog.text
    assert "tk_staging_[redacted]" in caplog.text


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("POST /e/tk_dev_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG failed", "tk_dev_"),
        ("Authorization: Bearer tk_x_abc", "Bearer "),
        ("GET /api/v1/inbox/stream?token=eyJlbnYiOiJ4In0.c2lnbmF0dXJl&x=1", "token="),
        ("webhook secret whsec_c2NoZW1hdGhlc2lz was wrong", "whsec_"),
        ("login with password=hunter2 refused", "password="),
    ],
)
def test_redact_keeps_the_prefix_and_drops_the_secret(line: str, kept: str) -> None:
    out = redact(line)
    assert "[redacted]" in out
    assert kept in out
    assert not any(secret in out for secret in ("0123456789abc", "abc", "c2ln", "hunter2"))


@pytest.mark.parametrize(
    "line",
    [
        "POST /api/v1/tasks/{task_id}/trigger 201 4.8ms",
        "schedule sch_01M987XTSR74R354CK23YEDP16 fired 2 run(s) of digest",
        "run run_01M987XTSR74R354CK23YEDP16 failed: KeyError('userId')",
        'File "/srv/app/src/tidings/server/realtime.py", line 196, in stream_events',
        "schedule key=daily-report idempotency_key=welcome-u9 queue=default",
    ],
)
def test_redact_leaves_ordinary_lines_alone(line: str) -> None:
    assert redact(line) == line
