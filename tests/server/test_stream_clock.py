"""The inbox stream on a ScaledClock: token expiry is engine time, the waits are real."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.server.sse import open_stream
from tests.serving import serve
from tidings import Tidings
from tidings.clock import ScaledClock
from tidings.server import ServerSettings


async def test_token_expiring_arrives_at_the_right_real_time(tmp_path: Path) -> None:
    app = Tidings(f"sqlite:///{tmp_path / 'clock.db'}", secret_key="k" * 32)
    app.configure(clock=ScaledClock(datetime(2030, 1, 1, tzinfo=UTC), 50))
    app.recipients.upsert("alice")
    asgi = app.asgi(ServerSettings())
    asgi.state.inbox_hub.expiry_warning = timedelta(seconds=1)  # real seconds
    # 400 engine seconds at 50x: the token lasts 8 real seconds (room for a slow start of
    # the server and the stream on a loaded machine; the timing asserted is the warning's)
    token = app.inbox_token("alice", ttl=timedelta(seconds=400))
    issued = time.monotonic()
    with serve(asgi) as base:
        async with open_stream(base, token) as stream:
            await stream.until("ready")
            expiring = await stream.next(timeout=12)
            at = time.monotonic() - issued
            assert expiring.event == "token-expiring"
            assert 6.85 <= at < 7.9, at  # one real second before the real expiry
            assert 0.0 < expiring.data["expires_in"] <= 1.0
            expired = await stream.next(timeout=5)
            assert expired.event == "token-expired"
            assert time.monotonic() - issued >= 7.95
    app.close()
