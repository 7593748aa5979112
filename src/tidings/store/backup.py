"""Snapshots and all-or-nothing restores of a whole database, by its URL.

The backend's module does the work (``sqlite/backup.py``: the SQLite backup API;
``postgres/backup.py``: pg_dump and pg_restore); callers outside the store ask here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

Progress = Callable[[int, int], None]


def backup(
    url: str, dest: Path, *, progress: Progress | None = None, full: bool = True
) -> tuple[dict[str, int], str]:
    """Write a verified snapshot of the database at ``url`` to ``dest``.

    Returns the row count of every table in it and how it was verified. ``full``
    (PostgreSQL): restore into a scratch database and compare counts, not only read the
    archive's table of contents; SQLite always runs ``PRAGMA integrity_check``.
    """
    if url.startswith("sqlite:"):
        from tidings.store.sqlite import backup as sqlite_backup

        sqlite_backup.backup(url, dest, progress)
        return sqlite_backup.check_file(dest), "integrity_check"
    from tidings.store.postgres import backup as pg_backup

    return pg_backup.backup(url, dest, full=full)


def is_empty(url: str) -> tuple[bool, dict[str, int]]:
    """Whether the database holds no data, and the row counts of the tables that do."""
    if url.startswith("sqlite:"):
        from tidings.store.sqlite import backup as sqlite_backup

        return sqlite_backup.is_empty(url)
    from tidings.store.postgres import backup as pg_backup

    return pg_backup.is_empty(url)


def restore(file: Path, url: str, expected: dict[str, int] | None = None) -> dict[str, int]:
    """Replace the database's contents with the snapshot ``file``, all or nothing; the
    restored row counts (which must equal ``expected`` when given)."""
    if url.startswith("sqlite:"):
        from tidings.store.sqlite import backup as sqlite_backup

        return sqlite_backup.restore(file, url, expected)
    from tidings.store.postgres import backup as pg_backup

    return pg_backup.restore(file, url, expected)
