"""What every benchmark script shares: progress lines, its section of RESULTS.md, and a
worker subprocess it can time, sample and stop.

Each script owns one section of ``bench/RESULTS.md`` between ``<!-- NAME:begin -->``
and ``<!-- NAME:end -->`` and rewrites only that one; ``bench/core.py`` owns the head of
the file, everything before the first section.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

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
