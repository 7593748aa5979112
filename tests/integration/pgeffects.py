"""Side effects the PostgreSQL chaos tests' steps write, and the checks made on them.

Worker side, a step calls :func:`record`: one INSERT of ``(run_id, step, pid, exec_id,
executed_at)`` into a plain table (no unique key) on its own connection, straight to
the server, never through the engine. ``exec_id`` is new for every execution of the
step and is what the step returns, so the engine's stored result names the execution
whose result it committed; ``executed_at`` is when the execution began.

Test side, :class:`EffectsTable` creates the table in a schema of its own and
:func:`check_runs` holds the runs' records against what really happened:

- every step of every run executed at least once, and the execution the engine
  committed is one of them;
- no execution of a step began after the one the engine committed (a completed step
  never runs again);
- the executions before it were interrupted ones (the caller says whose: e.g. only
  processes that were SIGKILLed).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from tidings import Tidings
from tidings.records import RunStatus

FX_DSN_ENV = "TIDINGS_TEST_FX_DSN"
"""Where a worker process writes effects instead of the payload's DSN (a worker in a
network namespace reaches the server at another address)."""
RETRY_FOR = 120.0
"""How long a step keeps trying to write its effect while the server is unreachable."""
MAX_CONNECTIONS = 4
"""Effect connections per worker process (the server allows 100 in all)."""
EFFECTS_APP_NAME = "tidings-effects"

# -- worker side ---------------------------------------------------------------------
_idle: dict[str, list[psycopg.Connection[Any]]] = defaultdict(list)
_idle_lock = threading.Lock()
_slots = threading.BoundedSemaphore(MAX_CONNECTIONS)


@contextmanager
def _connection(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """A cached autocommit connection; a failed one is closed, never reused.

    Deliberately not a psycopg_pool: its reconnection backs off for seconds after an
    outage, which would delay effects well past the moment the server is back.
    """
    dsn = os.environ.get(FX_DSN_ENV) or dsn
    with _slots:
        with _idle_lock:
            conn = _idle[dsn].pop() if _idle[dsn] else None
        if conn is None:
            conn = psycopg.connect(
                dsn,
                autocommit=True,
                connect_timeout=2,
                application_name=EFFECTS_APP_NAME,
                tcp_user_timeout=5000,  # a cut link fails the write in seconds: retried
            )
        try:
            yield conn
        except BaseException:
            conn.close()
            raise
        with _idle_lock:
            _idle[dsn].append(conn)


def execute(dsn: str, query: sql.Composed, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run one statement, retrying through connection failures for up to RETRY_FOR."""
    deadline = time.monotonic() + RETRY_FOR
    while True:
        try:
            with _connection(dsn) as conn:
                cur = conn.execute(query, params)
                return list(cur.fetchall()) if cur.description else []
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def record(dsn: str, table: str, run_id: str, step: str) -> dict[str, Any]:
    """The side effect of one execution of ``step``; returns ``{"exec", "pid"}``.

    Retried until the server answers (a restart is not the step's failure). A retry of
    an INSERT whose commit was in flight when the connection died must not add a
    second row for the same execution, hence the ``NOT EXISTS`` on ``exec_id``.
    """
    exec_id, pid, began = uuid.uuid4().hex, os.getpid(), datetime.now(UTC)
    name = sql.Identifier(*table.split("."))
    query = sql.SQL(
        "INSERT INTO {t} (run_id, step, pid, exec_id, executed_at) "
        "SELECT %s, %s, %s, %s, %s WHERE NOT EXISTS (SELECT 1 FROM {t} WHERE exec_id = %s)"
    ).format(t=name)
    execute(dsn, query, [run_id, step, pid, exec_id, began, exec_id])
    return {"exec": exec_id, "pid": pid}


def executions(dsn: str, table: str, run_id: str, step: str) -> int:
    query = sql.SQL("SELECT count(*) FROM {} WHERE run_id = %s AND step = %s").format(
        sql.Identifier(*table.split("."))
    )
    return int(execute(dsn, query, [run_id, step])[0][0])


def wait_for_file(path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.02)


def terminate_when_blocked(dsn: str, schema: str, table: str, run_id: str, step: str) -> None:
    """Make the worker's commit of ``step`` lose its connection mid-transaction.

    A helper transaction inserts the step's key into the engine's ``steps`` table and
    stays open, so the worker's own upsert of the step waits on it; a watcher thread
    finds the waiting backend (``pg_blocking_pids``), terminates it, then rolls the
    helper back. Records ``terminated:<step>`` as an effect with the backend's pid.
    """
    helper = psycopg.connect(dsn, connect_timeout=5, application_name="tidings-chaos-blocker")
    helper.execute(
        sql.SQL(
            "INSERT INTO {}.steps (run_id, name, seq, kind, status) "
            "VALUES (%s, %s, 0, 'step', 'blocker')"
        ).format(sql.Identifier(schema)),
        [run_id, step],
    )
    blocker = helper.info.backend_pid

    def watch() -> None:
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as watcher:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    rows = watcher.execute(
                        "SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                        [blocker],
                    ).fetchall()
                    for (pid,) in rows:
                        watcher.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
                        record_pid = sql.SQL(
                            "INSERT INTO {} (run_id, step, pid, exec_id, executed_at) "
                            "VALUES (%s, %s, %s, %s, now())"
                        ).format(sql.Identifier(*table.split(".")))
                        watcher.execute(
                            record_pid, [run_id, f"terminated:{step}", pid, uuid.uuid4().hex]
                        )
                    if rows:
                        return
                    time.sleep(0.01)
        finally:
            helper.rollback()
            helper.close()

    threading.Thread(target=watch, name="terminate-when-blocked", daemon=True).start()


# -- test side -----------------------------------------------------------------------
@dataclass(frozen=True)
class Effect:
    run_id: str
    step: str
    pid: int
    exec_id: str
    executed_at: datetime


class EffectsTable:
    """``<schema>.effects`` (and a log of reclaims) in a schema created for one test.

    Every operation opens its own connection (retrying while the server is away), so
    the table outlives a server restart in the middle of a test.
    """

    def __init__(self, server: str) -> None:
        self.server = server
        self.schema = f"tidings_fx_{uuid.uuid4().hex[:16]}"
        self.table = f"{self.schema}.effects"

    def _run(self, query: sql.Composed) -> list[tuple[Any, ...]]:
        deadline = time.monotonic() + 60
        while True:
            try:
                with psycopg.connect(self.server, autocommit=True, connect_timeout=5) as conn:
                    cur = conn.execute(query)
                    return list(cur.fetchall()) if cur.description else []
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def create(self) -> None:
        s = sql.Identifier(self.schema)
        self._run(
            sql.SQL(
                "CREATE SCHEMA {s}; "
                "CREATE TABLE {s}.effects (run_id text NOT NULL, step text NOT NULL, "
                "pid integer NOT NULL, exec_id text NOT NULL, executed_at timestamptz NOT NULL, "
                "inserted_at timestamptz NOT NULL DEFAULT clock_timestamp()); "
                # plain indexes, no unique key: a step executed twice must be able to show it
                "CREATE INDEX ON {s}.effects (exec_id); "
                "CREATE INDEX ON {s}.effects (run_id, step)"
            ).format(s=s)
        )

    def drop(self) -> None:
        self._run(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))

    def payload(self, **extra: Any) -> dict[str, Any]:
        return {"fx": self.server, "table": self.table, **extra}

    def log_reclaims(self, tidings_schema: str) -> None:
        """Count takeovers of RUNNING runs (an expired lease claimed anew) as they happen."""
        self._run(
            sql.SQL(
                "CREATE TABLE {s}.reclaims (run_id text, old_worker text, new_worker text, "
                "at timestamptz DEFAULT clock_timestamp()); "
                "CREATE FUNCTION {s}.log_reclaim() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN INSERT INTO {s}.reclaims (run_id, old_worker, new_worker) "
                "VALUES (NEW.id, OLD.worker_id, NEW.worker_id); RETURN NULL; END $$; "
                "CREATE TRIGGER chaos_reclaims AFTER UPDATE OF lease_token ON {t}.runs "
                "FOR EACH ROW WHEN (OLD.status = 'RUNNING' AND NEW.status = 'RUNNING' "
                "AND OLD.lease_token IS DISTINCT FROM NEW.lease_token) "
                "EXECUTE FUNCTION {s}.log_reclaim()"
            ).format(s=sql.Identifier(self.schema), t=sql.Identifier(tidings_schema))
        )

    def reclaims(self) -> list[tuple[str, str, str]]:
        rows = self._run(
            sql.SQL("SELECT run_id, old_worker, new_worker FROM {}.reclaims ORDER BY at").format(
                sql.Identifier(self.schema)
            )
        )
        return [(str(r), str(o), str(n)) for r, o, n in rows]

    def rows(self) -> list[Effect]:
        rows = self._run(
            sql.SQL(
                "SELECT run_id, step, pid, exec_id, executed_at FROM {}.effects "
                "ORDER BY executed_at, inserted_at"
            ).format(sql.Identifier(self.schema))
        )
        return [Effect(*r) for r in rows]

    def of(self, run_id: str, step: str | None = None) -> list[Effect]:
        return [e for e in self.rows() if e.run_id == run_id and step in (None, e.step)]


@dataclass
class EffectReport:
    runs: int = 0
    executions: int = 0
    reruns: list[Effect] = field(default_factory=list)
    """Executions of a step the engine did not commit (interrupted, then run again)."""
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        pids = sorted({e.pid for e in self.reruns})
        return (
            f"{self.runs} runs, {self.executions} step executions, "
            f"{len(self.reruns)} re-executed interrupted steps (pids {pids})"
        )


def expected_steps(effect_steps: Sequence[str], sleep: bool) -> list[tuple[str, str]]:
    """The (name, kind) a run of pg_steps records, in order."""
    names = [(effect_steps[0], "step")]
    if sleep:
        names.append(("sleep", "sleep"))
    return names + [(n, "step") for n in effect_steps[1:]]


def check_runs(
    app: Tidings,
    run_ids: Collection[str],
    effects: Sequence[Effect],
    effect_steps: Sequence[str],
    *,
    sleep: bool,
    rerun_pids: Collection[int] | None = None,
) -> EffectReport:
    """Hold each run's record against the effects (see the module docstring).

    ``rerun_pids``: if given, only these processes may have executed a step that was
    then executed again (the ones SIGKILLed); else any may (a lost connection).
    """
    report = EffectReport()
    by_key: dict[tuple[str, str], list[Effect]] = defaultdict(list)
    for e in effects:  # in order of execution
        by_key[(e.run_id, e.step)].append(e)
    wanted = {(r, s) for r in run_ids for s in effect_steps}
    if stray := sorted(k for k in by_key if k not in wanted and ":" not in k[1]):
        report.problems.append(f"effects of unknown runs or steps: {stray[:5]}")
    for run_id in run_ids:
        report.runs += 1
        _check_run(app, run_id, by_key, effect_steps, sleep, rerun_pids, report)
    return report


def _check_run(
    app: Tidings,
    run_id: str,
    by_key: dict[tuple[str, str], list[Effect]],
    effect_steps: Sequence[str],
    sleep: bool,
    rerun_pids: Collection[int] | None,
    report: EffectReport,
) -> None:
    problems = report.problems
    run = app.get_run(run_id)
    if run.status is not RunStatus.COMPLETED:
        problems.append(f"run {run_id} is {run.status}: {run.error}")
        return
    shape = [(s.name, s.kind, s.status, s.attempts) for s in run.steps]
    want = [(n, k, "completed", 1) for n, k in expected_steps(effect_steps, sleep)]
    if shape != want or run.attempt != 1:
        problems.append(f"run {run_id}: attempt {run.attempt}, steps {shape}")
        return
    committed = {s.name: s.result for s in run.steps if s.kind == "step"}
    if run.result != [committed[n]["exec"] for n in effect_steps]:
        problems.append(f"run {run_id}: result {run.result} is not its steps' {committed}")
    for name in effect_steps:
        done = by_key.get((run_id, name), [])
        report.executions += len(done)
        execs = [e.exec_id for e in done]
        if committed[name]["exec"] not in execs:
            problems.append(f"{run_id}/{name}: committed result is no execution of it: {done}")
            continue
        last = execs.index(committed[name]["exec"])
        if last != len(done) - 1:
            problems.append(
                f"{run_id}/{name} ran again after it had completed: committed {done[last]}, "
                f"then {done[last + 1 :]}"
            )
        earlier = done[:last]
        report.reruns.extend(earlier)
        if rerun_pids is not None and (odd := [e for e in earlier if e.pid not in rerun_pids]):
            problems.append(
                f"{run_id}/{name} re-executed after an interruption in a process that was "
                f"not killed: {odd} (committed {done[last]})"
            )
