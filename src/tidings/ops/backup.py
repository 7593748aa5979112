"""``tidings backup`` and ``tidings restore``: naming, verification records, retention.

The copying itself is the store's (:mod:`tidings.store.backup`).
Each backup is one file named ``<environment>-<UTC time>.<sqlite3|pgdump>`` with a
``.json`` manifest beside it: the row count of every table in the snapshot, how it was
verified, and the tidings version that wrote it. A backup is written under a temporary
name and renamed only once verified, so a file with a backup's name is a good backup.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from tidings import __version__
from tidings.errors import ConfigError, StoreError, TidingsError
from tidings.store import backup as store_backup

Progress = Callable[[int, int], None]
DEFAULT_DIR = Path(".tidings") / "backups"
_SUFFIXES = {"sqlite": ".sqlite3", "postgres": ".pgdump"}
_NAME = re.compile(
    r"^(?P<env>[a-z0-9][a-z0-9-]*)-(?P<ts>\d{8}T\d{6}Z)(?:-(?P<n>\d+))?\.(?:sqlite3|pgdump)$"
)


class NotEmptyError(TidingsError):
    """The environment a restore targets already holds data."""


@dataclass(frozen=True)
class Manifest:
    environment: str
    backend: str
    created_at: str
    """ISO 8601, UTC."""
    tables: dict[str, int]
    """Rows per table in the snapshot."""
    verified: str
    """``integrity_check`` (SQLite), ``restore`` or ``toc`` (PostgreSQL)."""
    tidings_version: str


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: Manifest
    removed: list[Path]
    """Older backups deleted to keep the newest N."""


def backend_of(url: str) -> str:
    if url.startswith("sqlite:"):
        return "sqlite"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgres"
    raise ConfigError(f"cannot back up a database of scheme {url.split(':', 1)[0]!r}")


def backup_name(environment: str, backend: str, now: datetime, folder: Path) -> Path:
    """``<env>-<YYYYmmddTHHMMSSZ>.<ext>`` in ``folder``, numbered if that second is taken."""
    stem = f"{environment}-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    path, n = folder / f"{stem}{_SUFFIXES[backend]}", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}{_SUFFIXES[backend]}"
    return path


def list_backups(folder: Path, environment: str) -> list[Path]:
    """The environment's backups in ``folder``, newest first (by the time in the name)."""
    found = []
    for path in folder.glob(f"{environment}-*"):
        m = _NAME.match(path.name)
        if m and m.group("env") == environment:
            found.append((m.group("ts"), int(m.group("n") or 1), path))
    return [p for *_, p in sorted(found, reverse=True)]


def prune(folder: Path, environment: str, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups of the environment (and manifests)."""
    removed = list_backups(folder, environment)[keep:]
    for path in removed:
        for victim in (path, manifest_path(path)):
            with contextlib.suppress(FileNotFoundError):
                victim.unlink()
    return removed


def manifest_path(backup: Path) -> Path:
    return backup.with_name(backup.name + ".json")


def take_backup(
    url: str,
    environment: str,
    folder: Path,
    *,
    keep: int | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
    verify: str = "full",
) -> BackupResult:
    """Snapshot the database at ``url`` into ``folder``, verify it, keep the newest ``keep``.

    ``verify``: ``full`` (PostgreSQL: restore into a scratch database and compare row
    counts) or ``toc`` (the archive's table of contents only); SQLite always runs
    ``PRAGMA integrity_check``.
    """
    if verify not in ("full", "toc"):
        raise ConfigError(f"--verify must be full or toc, got {verify!r}")
    backend = backend_of(url)
    if keep is not None and keep < 1:
        raise ConfigError(f"--keep must be at least 1, got {keep}")
    folder.mkdir(parents=True, exist_ok=True)
    when = now or datetime.now(UTC)
    final = backup_name(environment, backend, when, folder)
    partial = final.with_name(f".{final.name}.partial")
    try:
        tables, verified = store_backup.backup(
            url, partial, progress=progress, full=verify == "full"
        )
        manifest = Manifest(
            environment, backend, when.astimezone(UTC).isoformat(), tables, verified, __version__
        )
        manifest_path(final).write_text(json.dumps(asdict(manifest), indent=2) + "\n")
        os.replace(partial, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    removed = prune(folder, environment, keep) if keep is not None else []
    return BackupResult(final, manifest, removed)


def read_manifest(backup: Path) -> Manifest | None:
    path = manifest_path(backup)
    if not path.exists():
        return None
    try:
        return Manifest(**json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise StoreError(f"{path} is not a tidings backup manifest: {exc}") from None


def backend_of_file(file: Path) -> str:
    if not file.is_file():
        raise ConfigError(f"backup file {file} does not exist")
    with file.open("rb") as f:
        head = f.read(16)
    if head == b"SQLite format 3\x00":
        return "sqlite"
    if head.startswith(b"PGDMP"):
        return "postgres"
    raise ConfigError(f"{file} is neither a SQLite database nor a pg_dump custom-format archive")


def restore_backup(file: Path, url: str, *, force: bool = False) -> dict[str, int]:
    """Restore ``file`` into the database at ``url``; the restored row counts.

    Refuses (NotEmptyError) a target that holds data unless ``force``. When the backup
    has its manifest, the restored row counts must match it before the restore commits.
    """
    kind, target = backend_of_file(file), backend_of(url)
    if kind != target:
        raise ConfigError(
            f"{file} is a {kind} backup; it cannot be restored into a {target} database"
        )
    empty, data = store_backup.is_empty(url)
    if not empty and not force:
        held = ", ".join(f"{t}: {n}" for t, n in sorted(data.items()))
        raise NotEmptyError(
            f"the target database is not empty ({held}); restore into a new environment, or "
            "pass --force to replace everything in it (stop its workers first)"
        )
    manifest = read_manifest(file)
    return store_backup.restore(file, url, manifest.tables if manifest else None)
