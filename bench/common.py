"""What every benchmark script shares: progress lines, its section of RESULTS.md, a
worker subprocess it can time, sample and stop, and the measurement of a worker parking
sleeping runs (``bench/core.py`` at 100,000 on SQLite, ``bench/scale.py --park`` at a
million on both stores).

Each script owns one section of ``bench/RESULTS.md`` between ``<!-- NAME:begin -->``
and ``<!-- NAME:end -->`` and rewrites only that one; ``bench/core.py`` owns the head of
the file, everything before the first section.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from tidings import RunStatus, Tidings

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
FIRST_SECTION = re.compile(r"^<!-- [\w-]+:begin -->", re.M)


def log(message: str) -> None:
    """A progress line on stderr (stdout carries the JSON result)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def section(name: str) -> tuple[str, str]:
    """The begin and end markers of a script's section of RESULTS.md."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def write_section(name: str, block: str, results: Path = RESULTS) -> None:
    """Put ``block`` (which starts and ends with the section's markers) where the section
    ``name`` is in RESULTS.md, or append it; every other line is left as it is."""
    begin, end = section(name)
    if not block.lstrip().startswith(begin) or end not in block:
        raise ValueError(f"a {name!r} block must be framed by {begin} and {end}")
    old = results.read_text(encoding="utf-8") if results.exists() else ""
    block = block.rstrip("\n") + "\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    if pattern.search(old):
        text = pattern.sub(lambda _: block, old, count=1)
    else:
        text = old.rstrip("\n") + ("\n\n" if old else "") + block
    results.write_text(text, encoding="utf-8")


def write_head(block: str, results: Path = RESULTS) -> None:
    """Replace the head of RESULTS.md (all before the first section) with ``block``."""
    old = results.read_text(encoding="utf-8") if results.exists() else ""
    kept = old[m.start() :] if (m := FIRST_SECTION.search(old)) else ""
    results.write_text(block + ("\n" + kept if kept else ""), encoding="utf-8")


class WorkerProcess:
    """A worker subprocess that prints ``ready`` once it can work.

    ``rss_mb`` samples its resident memory; ``stop`` sends SIGTERM (a graceful drain)
    and kills it if it has not exited within a minute.
    """

    def __init__(self, cmd: list[str], errors: IO[str] | None = None) -> None:
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.proc.kill()
            self.proc.wait()
            where = f"; see {errors.name}" if errors is not None else ""
            raise RuntimeError(f"{Path(cmd[1]).name} worker did not start (said {line!r}){where}")

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS line")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_for(
    app: Tidings,
    status: RunStatus,
    n: int,
    *,
    timeout: float,
    every: float = 0.05,
    on_poll: Callable[[], None] | None = None,
) -> dict[RunStatus, int]:
    """Poll the store's run counts until ``n`` runs are in ``status``; the last counts."""
    deadline = time.monotonic() + timeout
    while True:
        counts = app.store.runs.count()
        if on_poll is not None:
            on_poll()
        if counts[status] >= n:
            return counts
        if counts[RunStatus.FAILED]:
            raise RuntimeError(f"runs failed: {counts}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout}s for {n} {status} runs: {counts}")
        time.sleep(every)


def park_sleepers(
    app: Tidings,
    queue: Callable[[], object],
    start_worker: Callable[[], WorkerProcess],
    n: int,
    first: int,
    *,
    idle_poll: float = 1.0,
    timeout: float = 3600,
) -> dict[str, Any]:
    """``queue`` puts ``n`` runs of a task that sleeps on the queue (timed: runs queued/s),
    then a worker (``start_worker``) parks them all: runs parked/s from the worker's
    start to the last WAITING, and its RSS idle, after the ``first`` parked, after all
    (and a couple of idle polls), and the peak of samples taken every half second. If
    they are not all parked within ``timeout`` seconds, the figures are of those that
    were (``capped``: parked < runs)."""
    t0 = time.perf_counter()
    queue()
    queued_s = time.perf_counter() - t0
    worker = start_worker()
    samples: list[float] = []
    try:
        start = time.perf_counter()
        rss_idle = worker.rss_mb()
        early = wait_for(app, RunStatus.WAITING, first, timeout=timeout, every=0.01)
        rss_first = worker.rss_mb()
        try:
            wait_for(
                app,
                RunStatus.WAITING,
                n,
                timeout=timeout,
                every=0.5,
                on_poll=lambda: samples.append(worker.rss_mb()),
            )
            parked = n
        except TimeoutError:  # capped: the rate is of those parked within ``timeout``
            parked = app.store.runs.count()[RunStatus.WAITING]
        elapsed = time.perf_counter() - start
        time.sleep(2 * idle_poll)  # a couple of idle polls
        rss_all = worker.rss_mb()
    finally:
        worker.stop()
    delta = rss_all - rss_first
    return {
        "runs": n,
        "seconds_to_queue_all": queued_s,
        "trigger_runs_per_s": n / queued_s,
        "parked": parked,
        "capped": parked < n,
        "seconds_to_park_all": elapsed,
        "park_runs_per_s": parked / elapsed,
        "rss_idle_mb": rss_idle,
        "waiting_at_first_sample": early[RunStatus.WAITING],
        "rss_after_first_mb": rss_first,
        "rss_after_all_mb": rss_all,
        "rss_peak_mb": max([rss_first, rss_all, *samples]),
        "rss_delta_mb": delta,
        "bytes_per_parked_run": delta * 1024 * 1024 / max(1, parked - early[RunStatus.WAITING]),
    }
