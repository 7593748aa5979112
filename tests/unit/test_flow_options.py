"""Flow-control options validate themselves and name the field at fault."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tidings import Context, RateLimit, Tidings, ValidationError
from tidings.flow import flow_limits


def test_rate_limit_accepts_seconds_and_keeps_its_fields() -> None:
    limit = RateLimit(limit=3, period=2.5, key="account.id")
    assert (limit.limit, limit.period, limit.key) == (3, timedelta(seconds=2.5), "account.id")
    assert RateLimit(1, timedelta(seconds=2)) == RateLimit(1, 2)
    with pytest.raises(AttributeError):
        limit.limit = 4  # type: ignore[misc]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((0, 1), "RateLimit.limit"),
        ((-1, 1), "RateLimit.limit"),
        ((True, 1), "RateLimit.limit"),
        (("1", 1), "RateLimit.limit"),
        ((1, 0), "RateLimit.period"),
        ((1, timedelta(seconds=-2)), "RateLimit.period"),
        ((1, "2s"), "RateLimit.period"),
        ((1, 1, 5), "RateLimit.key"),
        ((1, 1, ""), "RateLimit.key"),
        ((1, 1, "a..b"), "RateLimit.key"),
    ],
)
def test_invalid_rate_limit_names_the_field(args: tuple[Any, ...], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        RateLimit(*args)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurrency": 0}, "concurrency of task 'job' must be an int >= 1"),
        ({"concurrency": -3}, "concurrency of task 'job' must be an int >= 1"),
        ({"concurrency": True}, "concurrency of task 'job'"),
        ({"concurrency": 2.0}, "concurrency of task 'job'"),
        ({"concurrency": 2, "concurrency_key": 5}, "concurrency_key of task 'job'"),
        ({"concurrency": 2, "concurrency_key": ["a"]}, "concurrency_key of task 'job'"),
        ({"concurrency": 2, "concurrency_key": "a."}, "concurrency_key of task 'job'"),
        ({"concurrency_key": "a"}, "concurrency_key of task 'job' needs concurrency"),
        ({"rate_limit": 5}, "rate_limit of task 'job' must be a tidings.RateLimit"),
    ],
)
def test_invalid_task_flow_options_name_the_field(options: dict[str, Any], message: str) -> None:
    app = Tidings("sqlite:///:memory:")
    with pytest.raises(ValidationError, match=message):

        @app.task(id="job", **options)
        async def job(ctx: Context, payload: None) -> None: ...

    assert app.tasks == {}


def test_only_limited_tasks_reach_the_claim() -> None:
    app = Tidings("sqlite:///:memory:")

    @app.task
    async def plain(ctx: Context, payload: None) -> None: ...

    @app.task(concurrency=3, rate_limit=RateLimit(2, 60, key="k"))
    async def limited(ctx: Context, payload: None) -> None: ...

    [limit] = flow_limits(app.tasks)
    assert (limit.task_id, limit.concurrency, limit.rate, limit.period) == (
        "limited",
        3,
        2,
        timedelta(seconds=60),
    )
