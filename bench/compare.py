"""The same benchmarks on an earlier commit and on this tree, back to back, as ratios.

Checks a revision out into a temporary git worktree, runs each chosen benchmark there
and here one after the other with the same interpreter (the earlier code is imported
from its worktree through ``PYTHONPATH``), and writes the ``compare`` section of
bench/RESULTS.md: each headline figure before and after, and after/before.

    .venv-bench/bin/python bench/compare.py --base HEAD~1 --quick   # peers and notify
    .venv/bin/python bench/compare.py --base main --bench notify --quick

``peers`` needs the interpreter of ``make bench-peers`` (.venv-bench, with DBOS and
Procrastinate). Prints one JSON object; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import log, write_section

ROOT = Path(__file__).resolve().parent.parent
Figure = tuple[str, tuple[str, ...], bool]
"""(label, its path in the script's JSON, whether higher is better)."""

T, E2E = "tidings", "end_to_end_runs_per_s"
FIGURES: dict[str, list[Figure]] = {
    "peers": [
        ("no-op runs/s end to end", (T, "noop_live", "end_to_end_runs_per_s"), True),
        ("no-op runs/s, trigger_many", (T, "noop_batch_live", "end_to_end_runs_per_s"), True),
        ("3-step runs/s end to end", (T, "three_steps_live", "end_to_end_runs_per_s"), True),
        ("backlog drain runs/s", (T, "noop_backlog", "worker_runs_per_s"), True),
        ("µs per step", (T, "us_per_step"), False),
        ("trigger to start p50 ms", (T, "latency", "p50_ms"), False),
        ("sleeping runs parked/s", (T, "sleeping", "park_runs_per_s"), True),
        ("DBOS no-op runs/s", ("dbos", "noop_live", "end_to_end_runs_per_s"), True),
        ("Procrastinate no-op runs/s", ("procrastinate", "noop_live", E2E), True),
    ],
    "notify": [
        ("SQLite notifications/s", ("stores", "sqlite", "notifications_per_s"), True),
        ("PostgreSQL notifications/s", ("stores", "postgres", "notifications_per_s"), True),
        ("SQLite worker RSS growth MB", ("stores", "sqlite", "rss_growth_mb"), False),
        ("SQLite broadcast notifications/s", ("broadcast", "sqlite", "notifications_per_s"), True),
        ("PostgreSQL broadcast notifications/s",
         ("broadcast", "postgres", "notifications_per_s"), True),
    ],
}  # fmt: skip
SCRIPTS = {"peers": "bench/peers.py", "notify": "bench/notify.py"}


def run(script: str, tree: Path, quick: bool) -> dict[str, Any]:
    """Run ``script`` of ``tree`` with its own ``src`` first on the path; its JSON."""
    env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{tree}"}
    cmd = [sys.executable, str(tree / script), "--no-write", *(["--quick"] if quick else [])]
    done = subprocess.run(cmd, cwd=tree, env=env, stdout=subprocess.PIPE, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def worktree(base: str, where: Path) -> Path:
    rev = subprocess.run(
        ["git", "rev-parse", "--short", base], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    path = where / f"base-{rev}"
    subprocess.run(
        ["git", "worktree", "add", "--detach", "-q", str(path), rev], cwd=ROOT, check=True
    )
    return path


def rows(bench: str, before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for label, path, higher in FIGURES[bench]:
        try:
            b, a = float(_at(before, path)), float(_at(after, path))
        except (KeyError, TypeError):
            continue  # a figure one side does not report
        ratio = a / b if b else float("nan")
        out.append({"bench": bench, "figure": label, "before": b, "after": a,
                    "ratio": ratio, "higher_is_better": higher})  # fmt: skip
    return out


def _at(result: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = result
    for key in path:
        value = value[key]
    return value


def markdown(base: str, quick: bool, table: list[dict[str, Any]]) -> str:
    head = rev_of("HEAD")
    lines = [
        "<!-- compare:begin -->",
        f"## Before and after: {rev_of(base)} → {head} (working tree)",
        "",
        f"`bench/compare.py --base {base}{' --quick' if quick else ''}`, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.1f}: the earlier "
        "commit and this tree run back to back on one machine. Ratio is after / before; "
        "for figures where lower is better, below 1 is the better.",
        "",
        "| bench | figure | before | after | after / before |",
        "|---|---|---:|---:|---:|",
    ]
    for r in table:
        lines.append(
            f"| {r['bench']} | {r['figure']} | {r['before']:,.1f} | {r['after']:,.1f} | "
            f"{r['ratio']:.2f} |"
        )
    lines += ["", "<!-- compare:end -->", ""]
    return "\n".join(lines)


def rev_of(rev: str) -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the earlier revision (e.g. HEAD~1, main)")
    parser.add_argument("--bench", default="peers,notify", help="comma-separated: peers,notify")
    parser.add_argument("--quick", action="store_true", help="the scripts' small sizes")
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    chosen = [b.strip() for b in args.bench.split(",") if b.strip()]
    if unknown := [b for b in chosen if b not in SCRIPTS]:
        parser.error(f"unknown bench {', '.join(unknown)} (choose from {', '.join(SCRIPTS)})")
    table: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tidings-compare-") as tmp:
        base_tree = worktree(args.base, Path(tmp))
        try:
            for bench in chosen:
                log(f"{bench}: {args.base} first")
                before = run(SCRIPTS[bench], base_tree, args.quick)
                log(f"{bench}: this tree")
                after = run(SCRIPTS[bench], ROOT, args.quick)
                table += rows(bench, before, after)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT)
    if not args.no_write:
        write_section("compare", markdown(args.base, args.quick, table))
    print(json.dumps({"base": rev_of(args.base), "quick": args.quick, "rows": table}, indent=2))


if __name__ == "__main__":
    main()
