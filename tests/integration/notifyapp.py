"""The app the notification process tests run in real worker processes.

``python -m tests.integration.notifyapp --db URL`` runs a worker. Its email provider is
a gateway that appends every message it is handed to the file ``$NOTIFY_GATEWAY_OUT``
(``start`` then ``accepted``, each with the idempotency key and the pid), and while the
file ``$NOTIFY_GATEWAY_HOLD`` exists it stops between the two, so a test can kill the
worker in the middle of a send.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from tidings import Context, Retry, Tidings
from tidings.providers.base import Channel, Message, Provider, SendResult

TEMPLATES = Path(__file__).resolve().parent / "notify_templates"
HOLD_TIMEOUT = 60.0


def line(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{text} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


class FileGateway(Provider):
    """An email 'service' whose side effects are lines in a file."""

    name = "file-gateway"
    channels: ClassVar[frozenset[Channel]] = frozenset({Channel.EMAIL})

    async def send(self, message: Message) -> SendResult:
        out = os.environ["NOTIFY_GATEWAY_OUT"]
        line(out, f"start {message.idempotency_key}")
        hold = os.environ.get("NOTIFY_GATEWAY_HOLD")
        waited = 0.0
        while hold and waited < HOLD_TIMEOUT and await asyncio.to_thread(os.path.exists, hold):
            await asyncio.sleep(0.02)
            waited += 0.02
        line(out, f"accepted {message.idempotency_key}")
        return SendResult(provider_message_id=f"gw-{message.idempotency_key}")


app = Tidings(
    environment="integration",
    templates=TEMPLATES,
    channels={"email": [FileGateway()]},
    sandbox=False,  # the gateway must really be called
)
app.notification_type("alert", channels=("in_app", "email"))


def _block(out: str, run_id: str, release: str) -> int:
    """A sync step (it runs in a worker thread)."""
    line(out, f"{run_id} blocked")
    for _ in range(int(HOLD_TIMEOUT / 0.02)):
        if os.path.exists(release):
            break
        time.sleep(0.02)
    return os.getpid()


@app.task(retry=Retry(max_attempts=5, initial=0.1))
async def notify_then_block(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    """Notify, then block in a step until ``payload['release']`` exists."""
    result = await ctx.notify("alert", to=payload["to"], data={"name": "An"})
    pid = await ctx.step("block", _block, payload["out"], ctx.run_id, payload["release"])
    return {"pid": pid, "deliveries": len(result.deliveries)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.integration.notifyapp")
    parser.add_argument("--db", required=True)
    parser.add_argument("--lease-seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    fmt = "%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=fmt)
    app.database_url = args.db
    app.lease = timedelta(seconds=args.lease_seconds)
    worker = app.worker(concurrency=4, poll_interval=0.05)
    asyncio.run(worker.run(install_signal_handlers=True))


if __name__ == "__main__":
    main()
