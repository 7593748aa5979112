"""Named SQL queries kept in ``.sql`` files (``-- name: query_name`` headers)."""

from __future__ import annotations

import re
from importlib import resources

_HEADER = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)
_COMPATIBLE = re.compile(r"^--\s*compatible:\s*(\S+)\s*$", re.MULTILINE | re.IGNORECASE)


def load_queries(package: str, filename: str) -> dict[str, str]:
    text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    parts = _HEADER.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise RuntimeError(f"query {name!r} defined twice in {package}/{filename}")
        queries[name] = body.strip().rstrip(";")
    return queries


def load_migrations(package: str) -> list[tuple[str, str]]:
    """``[(name, sql)]`` for ``migrations/NNNN_name.sql``, in version order."""
    folder = resources.files(package).joinpath("migrations")
    files = sorted(f.name for f in folder.iterdir() if f.name.endswith(".sql"))
    return [(name[:-4], folder.joinpath(name).read_text(encoding="utf-8")) for name in files]


def migration_compatible(name: str, script: str) -> bool:
    """A migration's ``-- compatible: yes|no`` header.

    ``yes`` means the release before the migration keeps working on the migrated
    database, so a worker of that release may start (or restart) on it during a
    rolling deploy. Every migration file declares it, once.
    """
    found = _COMPATIBLE.findall(script)
    if len(found) != 1 or found[0].lower() not in ("yes", "no"):
        raise RuntimeError(
            f"migration {name} must declare exactly one '-- compatible: yes' or "
            f"'-- compatible: no' header (found {found or 'none'})"
        )
    return bool(found[0].lower() == "yes")


def load_all_queries(package: str) -> dict[str, str]:
    """Every named query of a backend: each concept's ``<concept>.sql`` (``runs.sql``...).

    ``schema.sql`` and the migrations are not queries. A name defined in two files is an
    error, as it is within one file.
    """
    folder = resources.files(package)
    names = sorted(
        f.name for f in folder.iterdir() if f.name.endswith(".sql") and f.name != "schema.sql"
    )
    queries: dict[str, str] = {}
    for name in names:
        for key, sql in load_queries(package, name).items():
            if key in queries:
                raise RuntimeError(f"query {key!r} defined in two files of {package}")
            queries[key] = sql
    return queries
