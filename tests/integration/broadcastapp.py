"""The app the broadcast process test runs in real worker processes.

``python -m tests.integration.broadcastapp --db URL`` runs a worker. Email goes to the
outbox (the default provider), in-app to the inbox, so "exactly once" is checked on
both tables.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import timedelta
from pathlib import Path

from tidings import Tidings

TEMPLATES = Path(__file__).resolve().parent / "notify_templates"

app = Tidings(environment="integration", templates=TEMPLATES)
app.notification_type("alert", channels=("in_app", "email"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.integration.broadcastapp")
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
