"""Issue 22: a fuzz test at the HTTP door, on both stores, with publish and admin keys.

Strategies lean on what broke tidings before: lone surrogates, extreme datetimes, deep
nesting and huge integers, in every field of every writing operation (and in cursors).
The invariant: no answer is a 5xx, and after every accepted request every listing
endpoint and dashboard page (and the new run's or recipient's own page) answers 200.
A second test runs every operation of /openapi.json (schemathesis strategies) under
the same invariant. Bounded: a fixed number of examples per store, no deadline, no
example database; about ten seconds per store each.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.harness import client, new_key
from tests.server.test_hardening import LISTINGS, PAGES, dashboard_login
from tidings import Tidings

MAX_EXAMPLES = 150
PER_OPERATION = 15

NASTY_TEXT = st.sampled_from(
    ["\ud800", "\udfff", "a\ud83d", "\ud83d\ude00", "", " ", "\x00", "𝄞", "é", "tidings/x"]
) | st.text(max_size=12)
EXTREME_TIMES = st.sampled_from(
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "9999-12-31T23:59:59Z",
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:00:00Z",
        "2026-03-01T09:00:00",
        "+10000-01-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
    ]
) | st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
HUGE_INTS = st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**30, -(10**40)]) | st.integers()
LEAVES = (
    st.none()
    | st.booleans()
    | HUGE_INTS
    | st.floats(allow_nan=False, allow_infinity=False)
    | NASTY_TEXT
    | EXTREME_TIMES
)
DEEP = st.integers(1, 400).map(lambda n: json.loads("[" * n + "]" * n))
JSON = (
    st.recursive(
        LEAVES,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NASTY_TEXT, inner, max_size=3),
        max_leaves=8,
    )
    | DEEP
)


def maybe(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


TRIGGER = maybe(
    payload=JSON,
    run_at=EXTREME_TIMES,
    delay=HUGE_INTS | st.floats(),
    tags=st.lists(NASTY_TEXT, max_size=3),
    idempotency_key=NASTY_TEXT,
    priority=HUGE_INTS,
    concurrency_key=NASTY_TEXT,
)
EVENT = st.fixed_dictionaries(
    {"name": NASTY_TEXT | st.just("user.registered")},
    optional={"data": JSON, "id": NASTY_TEXT, "ts": EXTREME_TIMES},
) | st.fixed_dictionaries(
    {"event": maybe(name=st.just("lab.completed"), payload=JSON, timestamp=EXTREME_TIMES)},
    optional={"options": maybe(deliverAt=EXTREME_TIMES, deliverAfter=HUGE_INTS)},
)
INNGEST = st.lists(
    maybe(name=NASTY_TEXT | st.just("user.registered"), data=JSON, ts=HUGE_INTS, id=NASTY_TEXT),
    min_size=1,
    max_size=3,
)
RECIPIENT = maybe(data=JSON, email=NASTY_TEXT, locale=NASTY_TEXT, timezone=NASTY_TEXT)
NOTIFY = st.fixed_dictionaries(
    {"type": st.just("alert"), "to": st.sampled_from(["alice", "bob", "\ud800"])},
    optional={"data": JSON, "channels": st.lists(NASTY_TEXT, max_size=2)},
)
CURSOR = (
    st.tuples(EXTREME_TIMES, NASTY_TEXT).map(
        lambda t: base64.urlsafe_b64encode(json.dumps(list(t)).encode()).decode().rstrip("=")
    )
    | NASTY_TEXT
)
REQUESTS = st.one_of(
    st.tuples(st.just("POST"), st.just("/api/v1/tasks/welcome/trigger"), TRIGGER),
    st.tuples(st.just("POST"), st.just("/api/v1/tasks/slow/trigger"), TRIGGER),
    st.tuples(st.just("POST"), st.just("/api/v1/events"), EVENT),
    st.tuples(st.just("POST"), st.just("/e/{key}"), INNGEST),
    st.tuples(st.just("PUT"), st.sampled_from(["/api/v1/recipients/carol"]), RECIPIENT),
    st.tuples(st.just("POST"), st.just("/api/v1/notifications"), NOTIFY),
    st.tuples(st.just("GET"), st.just("/api/v1/runs"), CURSOR.map(lambda c: {"cursor": c})),
    st.tuples(st.just("GET"), st.just("/dashboard/runs"), CURSOR.map(lambda c: {"cursor": c})),
    st.tuples(
        st.just("GET"),
        st.sampled_from(["/dashboard/runs", "/dashboard/events", "/dashboard/deliveries"]),
        maybe(
            since=EXTREME_TIMES, until=EXTREME_TIMES, q=NASTY_TEXT, name=NASTY_TEXT, to=NASTY_TEXT
        ),
    ),
)


def _listings_answer(c: httpx.Client, extra: list[str]) -> None:
    for path in [*LISTINGS, *(f"/dashboard{p}" for p in PAGES), *extra]:
        # the inbox takes its token from ?token= when no Bearer header is sent
        bare = {"Authorization": ""} if path.startswith("/api/v1/inbox") else None
        answer = c.get(path, headers=bare)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])


def _follow_up(path: str, answer: httpx.Response) -> list[str]:
    """The pages an accepted request made: its run's, its recipient's."""
    if "/trigger" in path:
        run_id = answer.json()["id"]
        return [f"/api/v1/runs/{run_id}", f"/dashboard/runs/{run_id}"]
    if "/recipients/" in path:
        return ["/api/v1/recipients/carol", "/dashboard/recipients/carol"]
    return []


def test_no_request_crashes_tidings_or_poisons_a_listing(
    notify_api: Tidings, notify_url: str
) -> None:
    keys = {"publish": new_key(notify_api, "publish"), "admin": new_key(notify_api)}
    inbox = f"/api/v1/inbox?token={notify_api.inbox_token('alice')}"  # alice's own listing
    admin = client(notify_url, keys["admin"])
    dashboard_login(admin, keys["admin"])
    try:

        @given(request=REQUESTS, scope=st.sampled_from(["publish", "admin"]))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(request: tuple[str, str, dict[str, Any] | list[Any]], scope: str) -> None:
            method, path, body = request
            key = keys[scope]
            path = path.replace("{key}", key)
            with client(notify_url, key) as c:
                if method == "GET":  # a surrogate travels as the bytes UTF-8 would give it
                    assert isinstance(body, dict)
                    url = (
                        path
                        + "?"
                        + "&".join(
                            f"{k}={quote(v.encode('utf-8', 'surrogatepass'))}"
                            for k, v in body.items()
                        )
                    )
                    answer = (admin if path.startswith("/dashboard") else c).get(url)
                else:
                    answer = c.request(
                        method,
                        path,
                        content=json.dumps(body),  # \\u escapes: surrogates travel as JSON
                        headers={"Content-Type": "application/json"},
                    )
            assert answer.status_code < 500, (method, path, body, answer.text[:300])
            if method != "GET" and answer.status_code < 300:
                _listings_answer(admin, [inbox, *_follow_up(path, answer)])

        check()
        _listings_answer(admin, [inbox])
    finally:
        admin.close()


def test_every_operation_keeps_every_listing_answering(
    notify_api: Tidings, notify_url: str
) -> None:
    """Every operation of /openapi.json, schema-generated (schemathesis), with a publish
    and an admin key: no 5xx, and after each accepted call every listing still 200."""
    keys = {"publish": new_key(notify_api, "publish"), "admin": new_key(notify_api)}
    inbox = f"/api/v1/inbox?token={notify_api.inbox_token('alice')}"
    schema = schemathesis.openapi.from_url(f"{notify_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 10
    with client(notify_url, keys["admin"]) as admin:
        dashboard_login(admin, keys["admin"])
        for operation in operations:

            @given(case=operation.as_strategy(), scope=st.sampled_from(["publish", "admin"]))
            @settings(
                max_examples=PER_OPERATION,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            def check(case: schemathesis.Case, scope: str) -> None:  # type: ignore[type-arg]
                if "key" in (case.path_parameters or {}):
                    case.path_parameters = {**case.path_parameters, "key": keys[scope]}
                answer = case.call(headers={"Authorization": f"Bearer {keys[scope]}"})
                assert answer.status_code < 500, (case.method, case.path, answer.text[:300])
                if case.method != "GET" and answer.status_code < 300:
                    _listings_answer(admin, [inbox])

            check()
