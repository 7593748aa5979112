"""``make demo``: the quickstart app, live, on a fresh SQLite file.

Starts a worker in this process, triggers a handful of runs and shows them move through
QUEUED, RUNNING, WAITING and retries to COMPLETED or FAILED (as a live table on a
terminal, as one line per change otherwise), then prints a summary. About 10-15 s.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.text import Text

from tidings import Run, RunStatus
from tidings.cli import (
    all_finished,
    configure_logging,
    fetch_runs,
    follow_runs,
    make_console,
    render_runs_table,
    status_text,
)
from tidings.config import apply_overrides

from .app import app

DB_PATH = Path(".tidings/demo.db")
DB_URL = f"sqlite:///{DB_PATH}"
APP_REF = "examples.quickstart.app:app"
DEADLINE_SECONDS = 60

# (user id, name, email, start after seconds): staggered so the table has some of each state.
SIGN_UPS = [
    ("u1", "Ada", "ada@example.com", 0.0),
    ("u2", "Grace", "grace@example.com", 0.5),
    ("u3", "Alan", "alan@example.com", 1.0),
    ("u4", "Edsger", "edsger@example.com", 2.0),
    ("u5", "Barbara", "barbara@example.com", 3.0),
    ("u6", "Donald", "donald@example.com", 4.0),
]
ADDRESSES = ["linus@example.com", "nobody@mailer.invalid"]


def reset_database() -> None:
    """Delete the previous demo database (and its WAL files) so every demo starts clean."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DB_PATH}{suffix}").unlink(missing_ok=True)


async def trigger_runs() -> int:
    """Trigger the demo's runs; return how many triggers an idempotency key deduplicated."""
    for user_id, name, email, after in SIGN_UPS:
        payload = {"user_id": user_id, "name": name, "email": email}
        await app.trigger_async(
            "welcome-sequence", payload, delay=after, idempotency_key=f"welcome-{user_id}"
        )
    for email in ADDRESSES:
        await app.trigger_async("verify-email", {"email": email})
    # A client retrying its request: same key, so it gets the existing run back.
    again = await app.trigger_async(
        "welcome-sequence",
        {"user_id": "u1", "name": "Ada", "email": "ada@example.com"},
        idempotency_key="welcome-u1",
    )
    return 0 if again.created else 1


async def run_demo(console: Console) -> tuple[list[Run], int]:
    """Run a worker and the demo's runs until every run has finished."""
    reset_database()
    apply_overrides(app, database_url=DB_URL)
    worker = app.worker(concurrency=8, poll_interval=0.2)
    running = asyncio.create_task(worker.run())
    try:
        deduplicated = await trigger_runs()
        runs = await asyncio.wait_for(
            follow_runs(
                lambda: fetch_runs(app, steps=True),
                render=lambda runs: render_runs_table(
                    sorted(runs, key=lambda r: r.created_at), steps=True, title="quickstart runs"
                ),
                console=console,
                until=all_finished,
            ),
            DEADLINE_SECONDS,
        )
    finally:
        worker.stop()
        await running
        app.close()
    return runs, deduplicated


def summarize(console: Console, runs: list[Run], deduplicated: int, elapsed: float) -> None:
    """Counts per status, steps and sleeps, and where to look next."""
    counts = Counter(r.status for r in runs)
    line = Text(f"\nSummary: {len(runs)} runs finished in {elapsed:.1f}s: ")
    for i, status in enumerate(s for s in RunStatus if counts[s]):
        line.append(", " if i else "").append_text(status_text(status)).append(f" {counts[status]}")
    console.print(line)
    steps = [s for r in runs for s in r.steps if s.kind == "step"]
    retried = sum(s.attempts - 1 for s in steps)
    sleeps = sum(1 for r in runs for s in r.steps if s.kind == "sleep")
    console.print(
        f"  {len(steps)} steps ran ({retried} of them needed a retry), "
        f"{sleeps} durable sleeps, {deduplicated} duplicate trigger deduplicated"
    )
    console.print("Look closer:", style="bold")
    console.print(f"  tidings runs list --app {APP_REF} --database-url {DB_URL}", soft_wrap=True)
    console.print(
        f"  tidings runs show <run id> --app {APP_REF} --database-url {DB_URL}", soft_wrap=True
    )


def check(runs: list[Run]) -> list[str]:
    """What did not end as the demo expects (empty when all is well)."""
    expected: dict[str, list[RunStatus]] = {
        "welcome-sequence": [RunStatus.COMPLETED] * len(SIGN_UPS),
        "verify-email": [RunStatus.COMPLETED, RunStatus.FAILED],
    }
    problems = []
    for task_id, want in expected.items():
        got = sorted((r.status for r in runs if r.task_id == task_id), key=str)
        if got != sorted(want, key=str):
            problems.append(f"{task_id}: expected {[str(s) for s in want]}, got {got}")
    return problems


def main() -> int:
    """Run the demo; exit status 0 when every run ended as expected."""
    console = make_console(sys.stdout)
    configure_logging(console)
    console.print(
        Text.assemble(("tidings quickstart demo", "bold"), f" · {DB_URL} · app {APP_REF}"),
        soft_wrap=True,
    )
    started = time.monotonic()
    try:
        runs, deduplicated = asyncio.run(run_demo(console))
    except TimeoutError:
        console.print(f"error: runs did not finish within {DEADLINE_SECONDS}s", style="red")
        return 1
    except KeyboardInterrupt:
        return 130
    summarize(console, runs, deduplicated, time.monotonic() - started)
    if problems := check(runs):
        console.print(f"error: unexpected outcome: {'; '.join(problems)}", style="red")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
