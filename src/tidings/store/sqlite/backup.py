"""Snapshots of a SQLite store with the online backup API, and restoring them.

A backup reads the source through a connection that holds one read transaction for the
whole copy: in WAL mode that pins a snapshot, so the copy is consistent however many
workers write meanwhile, and the backup never restarts. A restore copies the backup into
a temporary file beside the target, checks it there, then copies it into the target in
one write transaction (``pages=-1``): the target is either wholly replaced or untouched.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

from tidings.errors import StoreError
from tidings.store.queries import load_migrations
from tidings.store.sqlite.database import BUSY_TIMEOUT_MS
from tidings.store.urls import path_from_url

Progress = Callable[[int, int], None]
"""Called with (pages copied, total pages)."""
STEP_PAGES = 1024
"""Pages per backup step (4 MiB at the default page size): how often progress moves."""


def _connect(path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def table_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows in every table (names come from sqlite_master, never from input)."""
    names = [
        str(r[0])
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    return {n: int(conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0]) for n in names}


def check_file(path: Path) -> dict[str, int]:
    """Integrity-check a SQLite file that should hold a tidings database; its row counts."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"{path} cannot be opened as SQLite: {exc}") from None
    try:
        problems = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise StoreError(f"{path} failed PRAGMA integrity_check: {'; '.join(problems[:5])}")
        counts = table_counts(conn)
        if "tidings_migrations" not in counts:
            raise StoreError(f"{path} is not a tidings database (no tidings_migrations table)")
        applied = {str(r[0]) for r in conn.execute("SELECT name FROM tidings_migrations")}
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a usable SQLite database: {exc}") from None
    finally:
        conn.close()
    known = {name for name, _ in load_migrations("tidings.store.sqlite")}
    if unknown := sorted(applied - known):
        raise StoreError(
            f"{path} was written by a newer tidings (unknown migrations: {', '.join(unknown)}); "
            "restore it with that version"
        )
    return counts


def backup(url: str, dest: Path, progress: Progress | None = None) -> dict[str, int]:
    """Copy the database at ``url`` to ``dest`` (a new file); the snapshot's row counts."""
    source = path_from_url(url)
    if source == ":memory:":
        raise StoreError("an in-memory SQLite database cannot be backed up")
    if not Path(source).exists():
        raise StoreError(f"{source} does not exist: there is nothing to back up")
    src = _connect(source)
    out = sqlite3.connect(dest)
    try:
        src.execute("BEGIN")  # pins the snapshot the whole copy and the counts come from
        counts = table_counts(src)

        def step(_status: int, remaining: int, total: int) -> None:
            if progress is not None:
                progress(total - remaining, total)

        src.backup(out, pages=STEP_PAGES, progress=step)
        src.execute("COMMIT")
        # A backup is one self-contained file: no -wal beside it, readable read-only.
        out.execute("PRAGMA journal_mode = DELETE")
    except sqlite3.Error as exc:
        raise StoreError(f"backing up {source} failed: {exc}") from None
    finally:
        out.close()
        src.close()
    return counts


def is_empty(url: str) -> tuple[bool, dict[str, int]]:
    """Whether the database at ``url`` holds no rows but its migration records."""
    path = Path(path_from_url(url))
    if not path.exists() or path.stat().st_size == 0:
        return True, {}
    conn = _connect(path)
    try:
        counts = table_counts(conn)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a usable SQLite database: {exc}") from None
    finally:
        conn.close()
    data = {t: n for t, n in counts.items() if t != "tidings_migrations" and n}
    return not data, data


def _check_counts(file: Path, counts: dict[str, int], expected: dict[str, int] | None) -> None:
    if expected is not None and counts != expected:
        diff = {t: (expected.get(t), counts.get(t)) for t in expected | counts}
        wrong = {t: v for t, v in diff.items() if v[0] != v[1]}
        raise StoreError(
            f"{file} holds other row counts than its manifest (expected, found): {wrong}"
        )


def restore(file: Path, url: str, expected: dict[str, int] | None = None) -> dict[str, int]:
    """Replace the database at ``url`` with the backup ``file``; the restored row counts.

    ``expected`` (the manifest's counts) must match the copy before the target is touched.
    """
    target = Path(path_from_url(url))
    if str(target) == ":memory:":
        raise StoreError("cannot restore into an in-memory SQLite database")
    check_file(file)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.restore-{uuid.uuid4().hex[:8]}")
    try:
        src = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
        tmp = sqlite3.connect(staging)
        try:
            src.backup(tmp)
            tmp.execute("PRAGMA journal_mode = DELETE")
        finally:
            tmp.close()
            src.close()
        counts = check_file(staging)
        _check_counts(file, counts, expected)
        tmp = _connect(staging)
        dst = _connect(target)
        try:
            # One step: a single write transaction on the target, so a failure or a
            # crash part-way leaves the old contents in place.
            tmp.backup(dst, pages=-1)
        finally:
            dst.close()
            tmp.close()
    except sqlite3.Error as exc:
        raise StoreError(f"restoring {file} into {target} failed: {exc}") from None
    finally:
        for leftover in (staging, Path(f"{staging}-wal"), Path(f"{staging}-shm")):
            with contextlib.suppress(FileNotFoundError):
                os.remove(leftover)
    return counts
