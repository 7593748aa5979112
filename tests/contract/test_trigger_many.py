"""trigger_many: many runs in one transaction, validated first, idempotency per item."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pydantic
import pytest

from tests.conftest import START
from tidings import CancelOn, Context, RateLimit, RunStatus, Tidings
from tidings.errors import NotSerializableError, StoreError, UnknownTaskError, ValidationError
from tidings.store.runs import NewRun
from tidings.testing import TestEngine


class Order(pydantic.BaseModel):
    order_id: str
    amount: int


def register(app: Tidings) -> None:
    @app.task
    async def charge(ctx: Context, payload: Order) -> int:
        return payload.amount

    @app.task
    async def plain(ctx: Context, payload: Any) -> Any:
        return payload


async def test_runs_are_created_in_order_and_run(app: Tidings) -> None:
    register(app)
    async with TestEngine(app, start=START) as t:
        handles = await app.trigger_many_async(
            "charge", [{"order_id": f"o{i}", "amount": i} for i in range(5)], tags=["bulk"]
        )
        await t.advance(timedelta(0))
        runs = [await t.get_run(h.id) for h in handles]
    assert len({h.id for h in handles}) == 5
    assert all(h.created for h in handles)
    assert [r.payload for r in runs] == [{"order_id": f"o{i}", "amount": i} for i in range(5)]
    assert [r.result for r in runs] == [0, 1, 2, 3, 4]
    assert all(r.status is RunStatus.COMPLETED and r.tags == ("bulk",) for r in runs)


def test_a_bad_payload_names_its_index_and_creates_nothing(app: Tidings) -> None:
    register(app)
    good = {"order_id": "o1", "amount": 1}
    with pytest.raises(ValidationError, match=r"payloads\[2\]: .*task 'charge'.*amount"):
        app.trigger_many("charge", [good, good, {"order_id": "o3", "amount": "lots"}, good])
    with pytest.raises(NotSerializableError, match=r"payloads\[1\]: payload of task 'plain'"):
        app.trigger_many("plain", [{"ok": 1}, {"when": START}])
    assert app.list_runs() == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"idempotency_keys": ["a"]}, "one key .* per payload: 2 payloads"),
        ({"idempotency_keys": "ab"}, "idempotency_keys must be a list"),
        ({"idempotency_keys": ["a", ""]}, r"payloads\[1\]: idempotency_key"),
        ({"delay": -1}, r"payloads\[0\]: delay must not be negative"),
        ({"priority": "high"}, "priority must be an int"),
    ],
)
def test_bad_options_create_nothing(app: Tidings, options: dict[str, Any], message: str) -> None:
    register(app)
    with pytest.raises(ValidationError, match=message):
        app.trigger_many("plain", [1, 2], **options)
    assert app.list_runs() == []


def test_unknown_task_and_empty_batch(app: Tidings) -> None:
    register(app)
    with pytest.raises(UnknownTaskError, match="did you mean 'plain'"):
        app.trigger_many("plan", [1])
    assert app.trigger_many("plain", []) == []
    assert app.trigger_many("plain", iter([7]))[0].get().payload == 7


def test_idempotency_keys_are_honoured_per_item(app: Tidings) -> None:
    register(app)
    earlier = app.trigger("plain", "earlier", idempotency_key="k-old")
    handles = app.trigger_many(
        "plain",
        ["a", "b", "c", "d", "e"],
        idempotency_keys=["k-old", "k-new", None, "k-new", None],
    )
    ids = [h.id for h in handles]
    assert ids[0] == earlier.id  # a key already live returns its run
    assert ids[3] == ids[1]  # a key repeated in the batch returns the first of them
    assert len(set(ids)) == 4
    assert [h.created for h in handles] == [False, True, True, False, True]
    assert sorted(r.payload for r in app.list_runs()) == ["b", "c", "e", "earlier"]
    assert app.get_run(ids[1]).idempotency_key == "k-new"
    again = app.trigger_many("plain", ["x"], idempotency_keys=["k-new"])
    assert (again[0].id, again[0].created) == (ids[1], False)


async def test_options_flow_keys_and_cancel_keys_apply_to_every_run(app: Tidings) -> None:
    @app.task(
        rate_limit=RateLimit(1, timedelta(hours=1), key="customer"),
        cancel_on=[CancelOn("gone", {"id": "customer"})],
    )
    async def limited(ctx: Context, payload: dict[str, str]) -> str:
        return payload["customer"]

    async with TestEngine(app, start=START) as t:
        handles = app.trigger_many("limited", [{"customer": c} for c in ("a", "a", "b")])
        later = app.trigger_many("limited", [{"customer": "c"}], delay=timedelta(hours=2))
        await t.advance(timedelta(0))
        # one start per customer per hour: one of the two runs of "a" is held back
        a1, a2, b = [await t.get_run(h.id) for h in handles]
        assert sorted([a1.status, a2.status]) == [RunStatus.COMPLETED, RunStatus.QUEUED]
        assert b.status is RunStatus.COMPLETED
        held = a1 if a1.status is RunStatus.QUEUED else a2
        await t.send_event("gone", {"id": "a"})
        assert (await t.get_run(held.id)).status is RunStatus.CANCELLED
        assert (await t.get_run(later[0].id)).status is RunStatus.QUEUED
        await t.advance(timedelta(hours=2))
        assert (await t.get_run(later[0].id)).result == "c"


def test_a_failed_batch_writes_nothing(app: Tidings) -> None:
    """All or none: a batch whose last insert fails leaves none of its runs behind."""
    register(app)
    store, now = app.store, app.clock.now()
    taken = app.trigger("plain", 0).id
    news = [NewRun(f"run_batch_{i}", "plain", "default", 0, "1", now) for i in range(3)]
    clash = NewRun(taken, "plain", "default", 0, "1", now)
    with pytest.raises(StoreError):
        store.runs.create_many([*news, clash], now, app.idempotency_ttl)
    assert [r.id for r in app.list_runs()] == [taken]
    assert store.runs.create_many(news, now, app.idempotency_ttl) == [(n.id, True) for n in news]
