"""Group commit (Store.write_batch): many attempts' writes in one transaction, each
fenced by its lease, one write's failure confined to it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tests.conftest import START
from tidings import RunStatus, Tidings
from tidings.errors import LeaseLostError, StoreError
from tidings.records import ErrorInfo
from tidings.store.base import Store
from tidings.store.runs import ClaimedRun, LogWrite, NewRun, Outcome, StepRecord, WriteOp

LATER = START + timedelta(seconds=5)


def _claimed(store: Store, n: int) -> list[ClaimedRun]:
    news = [NewRun(f"run_gc_{i}", "job", "default", 0, "{}", START) for i in range(n)]
    store.runs.create_many(news, START, timedelta(days=1))
    claimed = store.runs.claim("w", None, START, START + timedelta(minutes=5), limit=n)
    assert sorted(c.id for c in claimed) == [n.id for n in news]
    return sorted(claimed, key=lambda c: c.id)


def _step(name: str, status: str = "completed", result: str | None = "1") -> StepRecord:
    return StepRecord(name, "step", status, 1, result, None, START, LATER)


def test_a_batch_writes_every_kind_and_fences_each_write(app: Tidings) -> None:
    store = app.store
    done, sleeper, stepping, logged, lost, failed = _claimed(store, 6)
    sleep = StepRecord("nap", "sleep", "waiting", 1, None, None, START, None, LATER)
    error = ErrorInfo("ValueError", "bad", "tb")
    ops = [
        WriteOp(done.id, done.lease_token, outcome=Outcome(RunStatus.COMPLETED, result="7")),
        WriteOp(
            sleeper.id,
            sleeper.lease_token,
            outcome=Outcome(RunStatus.WAITING, due_at=LATER),
            steps=(sleep,),
        ),
        WriteOp(stepping.id, stepping.lease_token, step=_step("a")),
        WriteOp(stepping.id, stepping.lease_token, step=_step("b", result='"x"')),
        WriteOp(
            logged.id,
            logged.lease_token,
            step=_step("c"),
            logs=(LogWrite(START, "INFO", "hello", 1),),
        ),
        WriteOp(lost.id, "not-the-token", step=_step("never")),
        WriteOp(lost.id, "not-the-token", outcome=Outcome(RunStatus.COMPLETED, result="1")),
        WriteOp(
            failed.id,
            failed.lease_token,
            outcome=Outcome(RunStatus.QUEUED, due_at=LATER, error=error, attempt=2),
            steps=(StepRecord("s", "step", "failed", 1, None, error, START, LATER),),
        ),
    ]
    results = store.runs.write_batch(ops)
    assert [type(r).__name__ if r else None for r in results] == [
        None,
        None,
        None,
        None,
        None,
        "LeaseLostError",
        "LeaseLostError",
        None,
    ]
    got = {c.id: app.get_run(c.id) for c in (done, sleeper, stepping, logged, lost, failed)}
    assert got[done.id].result == 7
    assert got[done.id].status is RunStatus.COMPLETED
    assert got[sleeper.id].status is RunStatus.WAITING
    assert got[sleeper.id].wake_at == LATER
    assert [(s.name, s.status, s.wake_at) for s in got[sleeper.id].steps] == [
        ("nap", "waiting", LATER)
    ]
    assert got[stepping.id].status is RunStatus.RUNNING
    assert [(s.name, s.result) for s in got[stepping.id].steps] == [("a", 1), ("b", "x")]
    assert [e.message for e in store.runs.logs(logged.id)] == ["hello"]
    assert got[lost.id].status is RunStatus.RUNNING
    assert got[lost.id].steps == []
    assert got[failed.id].status is RunStatus.QUEUED
    assert got[failed.id].attempt == 2
    assert got[failed.id].error == error
    assert [(s.name, s.status, s.error) for s in got[failed.id].steps] == [("s", "failed", error)]
    # a completed step is final: a later write of it changes nothing
    assert store.runs.write_batch(
        [WriteOp(stepping.id, stepping.lease_token, step=_step("a", result="2"))]
    ) == [None]
    assert app.get_run(stepping.id).steps[0].result == 1


@dataclass(frozen=True)
class _BadStatus:
    """A status the runs table's CHECK constraint refuses: the database rejects it."""

    finished: bool = False

    def __str__(self) -> str:
        return "BOGUS"


def test_a_write_the_database_rejects_fails_alone(app: Tidings) -> None:
    store = app.store
    good, bad, stepping = _claimed(store, 3)
    ops = [
        WriteOp(good.id, good.lease_token, outcome=Outcome(RunStatus.COMPLETED, result="1")),
        WriteOp(bad.id, bad.lease_token, outcome=Outcome(_BadStatus(), result="1")),  # type: ignore[arg-type]
        WriteOp(stepping.id, stepping.lease_token, step=_step("a")),
    ]
    results = store.runs.write_batch(ops)
    assert results[0] is None
    assert results[2] is None
    assert isinstance(results[1], StoreError)
    assert app.get_run(good.id).status is RunStatus.COMPLETED
    assert app.get_run(bad.id).status is RunStatus.RUNNING  # nothing of it written
    assert [s.name for s in app.get_run(stepping.id).steps] == ["a"]


def test_a_lone_write_is_fenced_too(app: Tidings) -> None:
    store = app.store
    (run,) = _claimed(store, 1)
    end = Outcome(RunStatus.COMPLETED, result="1")
    [lost] = store.runs.write_batch([WriteOp(run.id, "stale", outcome=end)])
    assert isinstance(lost, LeaseLostError)
    assert app.get_run(run.id).status is RunStatus.RUNNING
    assert store.runs.write_batch([WriteOp(run.id, run.lease_token, outcome=end)]) == [None]
    assert app.get_run(run.id).status is RunStatus.COMPLETED
    [again] = store.runs.write_batch([WriteOp(run.id, run.lease_token, release_at=LATER)])
    assert again is None  # a release of a run no longer held does nothing
    assert app.get_run(run.id).status is RunStatus.COMPLETED
