"""The simulated traffic the demo plays: deterministic by seed, and every run it causes
succeeds with nothing failing in the delivery log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from examples.medilink.app import create
from examples.medilink.simulate import Action, Traffic, seeded_ids

from tidings import RunStatus
from tidings.testing import TestEngine

START = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


async def _play(database_url: str, data_url: str, seed: int) -> tuple[list[Action], int]:
    ml = create(database_url, data_url=data_url, ids=seeded_ids(seed))
    try:
        async with TestEngine(ml.app, start=START) as t:
            traffic = Traffic(ml, seed=seed)
            actions = [Action("register", u.name) for u in traffic.populate()]
            for _ in range(40):
                actions.append(traffic.step())
                await t.advance(timedelta(hours=2))
            await t.advance(timedelta(days=12))  # every drip and reminder plays out
            runs = await t.list_runs(limit=1000)
            assert runs
            bad = [(r.task_id, r.status, r.error) for r in runs if r.status is RunStatus.FAILED]
            assert bad == []
            assert {r.status for r in runs} <= {RunStatus.COMPLETED, RunStatus.CANCELLED}
            assert ml.app.deliveries.list(status="failed") == []
            return actions, len(ml.app.outbox.list(limit=500))
    finally:
        ml.close()


async def test_same_seed_same_story(database_url: str, data_url: str, tmp_path: Path) -> None:
    first, sent = await _play(database_url, data_url, seed=11)
    second, _ = await _play(
        f"sqlite:///{tmp_path / 'again.db'}", f"sqlite:///{tmp_path / 'again-data.db'}", seed=11
    )
    assert first == second
    assert {a.kind for a in first} >= {"register", "request", "quote", "book"}
    assert sent > 50
