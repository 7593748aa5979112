"""Snapshots of a PostgreSQL store with ``pg_dump``, and restoring them with ``psql``.

A backup is ``pg_dump --format=custom --schema=<the environment's schema>`` run on a
snapshot this module exports (``pg_export_snapshot``) after counting every table's rows
in it, so the counts describe exactly what the dump holds. It is then verified: the
archive's table of contents must list every table's data (``pg_restore --list``), and
where the role may create databases the archive is restored into a scratch database and
its row counts compared with the snapshot's. A scratch database rather than a scratch
schema because a dump names its schema everywhere and cannot be restored under another
name; restoring it for real is the only check that the archive is complete and loadable.

A restore turns the archive into SQL (``pg_restore -f -``) and runs it with ``psql`` in
one transaction, between statements that move aside whatever holds the names involved
and rename the restored schema to the target's. Either all of it commits or nothing
does: other sessions never see a half-restored schema.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from tidings.errors import StoreError
from tidings.store.postgres.database import CONNECT_TIMEOUT, parse_url

_TOC_DATA = re.compile(r"^\d+; \d+ \d+ TABLE DATA (\S+) (\S+) ")
_TOC_SCHEMA = re.compile(r"^\d+; \d+ \d+ SCHEMA - (\S+) ")
_VERSION = re.compile(r"\(PostgreSQL\) (\d+)")


class _Target:
    """A database URL split into what libpq tools take: a password-free URL and env."""

    def __init__(self, url: str) -> None:
        self.conninfo, self.schema = parse_url(url)
        parts = urlsplit(self.conninfo)
        self.env = dict(os.environ)
        if parts.password is not None:  # never on a command line, where `ps` shows it
            self.env["PGPASSWORD"] = parts.password
            netloc = parts.netloc.replace(f":{parts.password}@", "@", 1)
            parts = parts._replace(netloc=netloc)
        self.dsn = urlunsplit(parts)

    def connect(self, **options: Any) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.conninfo, connect_timeout=CONNECT_TIMEOUT, **options)
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to PostgreSQL: {' '.join(str(exc).split())}"
            ) from None

    def with_database(self, name: str) -> _Target:
        other = _Target.__new__(_Target)
        parts = urlsplit(self.conninfo)
        other.conninfo = urlunsplit(parts._replace(path=f"/{name}"))
        other.dsn = urlunsplit(urlsplit(self.dsn)._replace(path=f"/{name}"))
        other.schema, other.env = self.schema, self.env
        return other


def tool(name: str, server_major: int | None = None) -> str:
    """The path of a PostgreSQL client program, checked against the server's version."""
    path = shutil.which(name)
    if path is None:
        raise StoreError(
            f"{name} not found on PATH: install the PostgreSQL client tools of your server's "
            "version (Debian/Ubuntu: apt-get install postgresql-client-<major>)"
        )
    if server_major is not None:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
        found = _VERSION.search(out.stdout)
        major = int(found.group(1)) if found else 0
        if major < server_major:
            raise StoreError(
                f"{path} is version {major or 'unknown'} but the server is PostgreSQL "
                f"{server_major}: {name} must be at least the server's major version; install "
                f"postgresql-client-{server_major} or put its bin directory first on PATH"
            )
    return path


def _run(argv: list[str], env: dict[str, str], what: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        detail = " ".join(done.stderr.split())[:2000] or f"exit code {done.returncode}"
        raise StoreError(f"{what} failed: {detail}")
    return done.stdout


def _tables(conn: psycopg.Connection[Any], schema: str) -> list[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = %s AND table_type = 'BASE TABLE' ORDER BY table_name",
        [schema],
    ).fetchall()
    return [str(r[0]) for r in rows]


def _counts(conn: psycopg.Connection[Any], schema: str) -> dict[str, int]:
    counts = {}
    for table in _tables(conn, schema):
        query = sql.SQL("SELECT COUNT(*) FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(table)
        )
        row = conn.execute(query).fetchone()
        counts[table] = int(row[0]) if row else 0
    return counts


def _server_major(conn: psycopg.Connection[Any]) -> int:
    return int(conn.info.server_version) // 10000


def backup(url: str, dest: Path, *, full: bool = True) -> tuple[dict[str, int], str]:
    """Dump the schema of ``url`` to ``dest``; (the snapshot's row counts, how verified).

    ``full=False`` checks the table of contents only (no scratch database).
    """
    target = _Target(url)
    with target.connect() as conn:
        pg_dump = tool("pg_dump", _server_major(conn))
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        row = conn.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None
        counts = _counts(conn, target.schema)
        if "tidings_migrations" not in counts:
            raise StoreError(f"schema {target.schema!r} holds no tidings database to back up")
        # The exporting transaction stays open until pg_dump has imported the snapshot.
        argv = [pg_dump, "--format=custom", f"--schema={target.schema}", "--no-owner"]
        argv += [f"--snapshot={row[0]}", f"--file={dest}", f"--dbname={target.dsn}"]
        _run(argv, target.env, "pg_dump")
        conn.execute("COMMIT")
    return counts, verify(url, dest, counts, full=full)


def archive_schema(file: Path, env: dict[str, str] | None = None) -> tuple[str, set[str]]:
    """The schema a dump holds and the tables whose data it holds (its TOC)."""
    listing = _run(
        [tool("pg_restore"), "--list", str(file)], env or dict(os.environ), "pg_restore --list"
    )
    schemas = [m.group(1) for line in listing.splitlines() if (m := _TOC_SCHEMA.match(line))]
    if len(schemas) != 1:
        raise StoreError(
            f"{file} is not a tidings backup: it holds {len(schemas)} schemas, not one"
        )
    data = {m.group(2) for line in listing.splitlines() if (m := _TOC_DATA.match(line))}
    if "tidings_migrations" not in data:
        raise StoreError(f"{file} is not a tidings backup (no tidings_migrations data)")
    return schemas[0], data


def verify(url: str, file: Path, counts: dict[str, int], *, full: bool = True) -> str:
    """Check ``file`` against the snapshot's ``counts``: ``restore`` or ``toc`` (how far)."""
    target = _Target(url)
    _, data = archive_schema(file, target.env)
    if missing := sorted(set(counts) - data):
        raise StoreError(f"backup {file} lacks the data of tables {', '.join(missing)}")
    with target.connect() as conn:
        row = conn.execute(
            "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    if not (full and row and row[0]):
        return "toc"  # no scratch database wanted or allowed: the table of contents must do
    with _scratch_database(target) as scratch:
        argv = [tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error"]
        _run([*argv, f"--dbname={scratch.dsn}", str(file)], target.env, "test restore")
        with scratch.connect() as conn:
            restored = _counts(conn, target.schema)
    if restored != counts:
        diff = {
            t: (counts.get(t), restored.get(t))
            for t in counts | restored
            if counts.get(t) != restored.get(t)
        }
        raise StoreError(f"backup {file} restores to different row counts (expected, got): {diff}")
    return "restore"


@contextmanager
def _scratch_database(target: _Target) -> Iterator[_Target]:
    name = f"tidings_verify_{uuid.uuid4().hex[:12]}"
    with target.connect(autocommit=True) as admin:
        # template0 accepts no connections, so no other session can block the copy
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    try:
        yield target.with_database(name)
    finally:
        with target.connect(autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def is_empty(url: str) -> tuple[bool, dict[str, int]]:
    """Whether the schema of ``url`` is absent or holds no rows but migration records."""
    target = _Target(url)
    with target.connect() as conn:
        counts = _counts(conn, target.schema)
    data = {t: n for t, n in counts.items() if t != "tidings_migrations" and n}
    return not data, data


def _count_checks(schema: str, expected: dict[str, int]) -> list[str]:
    """Statements that abort the restore's transaction if a table's rows differ."""
    checks = []
    for table, n in sorted(expected.items()):
        name = sql.Identifier(schema, table).as_string(None)
        label = table.replace("'", "")
        checks.append(
            f"DO $$ BEGIN IF (SELECT COUNT(*) FROM {name}) <> {int(n)} THEN RAISE EXCEPTION "
            f"'table {label} restored with % rows, the backup manifest says {int(n)}', "
            f"(SELECT COUNT(*) FROM {name}); END IF; END $$;"
        )
    return checks


def restore(file: Path, url: str, expected: dict[str, int] | None = None) -> dict[str, int]:
    """Replace the schema of ``url`` with the dump ``file`` in one transaction.

    ``expected`` (the manifest's counts) is checked inside that transaction.
    """
    target = _Target(url)
    source, _ = archive_schema(file, target.env)
    with target.connect(autocommit=True) as conn:
        psql = tool("psql", _server_major(conn))
        existing = {
            str(r[0])
            for r in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)",
                [[source, target.schema]],
            )
        }
    tag = uuid.uuid4().hex[:8]

    def ident(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    before, after = [], []
    replaced = f"{target.schema}_replaced_{tag}"[:63]
    if target.schema in existing:
        before.append(f"ALTER SCHEMA {ident(target.schema)} RENAME TO {ident(replaced)};")
        after.append(f"DROP SCHEMA {ident(replaced)} CASCADE;")
    if source != target.schema:
        aside = f"{source}_aside_{tag}"[:63]
        if source in existing:  # another environment's schema: keep it, under its name
            before.append(f"ALTER SCHEMA {ident(source)} RENAME TO {ident(aside)};")
        after.insert(0, f"ALTER SCHEMA {ident(source)} RENAME TO {ident(target.schema)};")
        if source in existing:
            after.insert(1, f"ALTER SCHEMA {ident(aside)} RENAME TO {ident(source)};")
    with tempfile.TemporaryDirectory(prefix="tidings-restore-") as tmp:
        script = Path(tmp) / "restore.sql"
        _run(
            [tool("pg_restore"), "--no-owner", "--no-privileges", f"--file={script}", str(file)],
            target.env,
            "pg_restore",
        )
        head, tail = Path(tmp) / "before.sql", Path(tmp) / "after.sql"
        head.write_text("\n".join(before) + "\n")
        checks = _count_checks(target.schema, expected) if expected is not None else []
        tail.write_text("\n".join(after + checks) + "\n")
        argv = [psql, "--no-psqlrc", "--quiet", "--single-transaction", "-v", "ON_ERROR_STOP=1"]
        argv += ["-f", str(head), "-f", str(script), "-f", str(tail), f"--dbname={target.dsn}"]
        _run(argv, target.env, "restore (nothing was changed)")
    with target.connect() as conn:
        return _counts(conn, target.schema)
