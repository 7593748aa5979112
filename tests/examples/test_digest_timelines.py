"""Table B, job by job, on the virtual clock: digests at each user's local hour, sequences
that stop when a user upgrades, and the weekly Notion sync under its rate limit."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from examples.digest.app import Digest, create
from examples.digest.notion import SourceUnauthorized, SourceUnavailable
from examples.digest.tasks import digest_key, sequence_key

from tidings import RunStatus
from tidings.testing import TestEngine

from .helpers import outbox

# Friday 6 March 2026, 18:00 UTC: 10:00 in Los Angeles (PST), 01:00 Saturday in Vietnam.
# Los Angeles moves to PDT at 02:00 on Sunday 8 March.
START = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def dg(database_url: str, data_url: str) -> Iterator[Digest]:
    bundle = create(database_url, data_url=data_url)
    yield bundle
    bundle.close()


def user_with_notes(dg: Digest, name: str, timezone: str, hour: int = 8) -> tuple[str, str]:
    """Sign up, put three pages in the user's Notion, connect it: ``(user, connection)``."""
    uid = dg.backend.sign_up(
        user_id=name.lower(), email=f"{name.lower()}@example.com", name=name,
        timezone=timezone, digest_hour=hour,
    )  # fmt: skip
    token = f"secret-{name.lower()}"
    for i in range(3):
        dg.notion.put_page(token, f"{name}-p{i}", f"{name} page {i}", f"Text {i}", START)
    return uid, dg.backend.connect_notion(uid, f"{name}'s workspace", token)


def digest_times(dg: Digest, uid: str) -> list[datetime]:
    return [m.created_at for m in outbox(dg.app, uid, "note-digest", "email")]


# -- digest-hourly and digest-send-for-user -----------------------------------------------------


async def test_each_user_gets_the_digest_at_their_local_hour_across_dst(dg: Digest) -> None:
    async with TestEngine(dg.app, start=START) as t:
        la, _ = user_with_notes(dg, "Lucia", "America/Los_Angeles")
        hcm, _ = user_with_notes(dg, "Minh", "Asia/Ho_Chi_Minh")
        await t.advance(timedelta(0))
        # the first digest after the first sync goes out at once (digest-send-for-user);
        # the second connection's first sync starts 2 s later (Notion's rate limit)
        await t.advance(timedelta(seconds=2))
        first = START + timedelta(seconds=2)
        assert digest_times(dg, la) == [START]
        assert digest_times(dg, hcm) == [first]

        await t.advance(utc(9, 17, 30) - t.now())
        assert digest_times(dg, hcm) == [first, utc(8, 1), utc(9, 1)]  # 08:00 UTC+7
        # 08:00 PST is 16:00 UTC; after the switch, 08:00 PDT is 15:00 UTC
        assert digest_times(dg, la) == [START, utc(7, 16), utc(8, 15), utc(9, 15)]

        # one digest per local day, each recording when it was sent
        days = [(d["localDate"], d["sentAt"]) for d in dg.data.digests_of(hcm)]
        assert days == [
            ("2026-03-07", first.isoformat()),
            ("2026-03-08", utc(8, 1).isoformat()),
            ("2026-03-09", utc(9, 1).isoformat()),
            ("2026-03-10", None),  # built at local midnight, due at 08:00
        ]
        [latest] = outbox(dg.app, la, "note-digest", "email")[-1:]
        assert latest.subject == "Your notes for 2026-03-09: 3 to revisit"
        assert "Lucia page 0" in latest.text


async def test_digest_send_for_user_never_sends_twice(dg: Digest) -> None:
    async with TestEngine(dg.app, start=START) as t:
        uid, _ = user_with_notes(dg, "Ana", "UTC", hour=20)
        await t.advance(timedelta(0))
        [digest] = dg.data.digests_of(uid)
        [first] = await t.list_runs("digest-send-for-user")
        assert first.idempotency_key == digest_key(digest["id"]) == f"note-digest-{digest['id']}"
        again = await t.trigger(
            "digest-send-for-user",
            {"digestId": digest["id"], "userId": uid},  # the user is the singleton key
            idempotency_key=first.idempotency_key,
        )
        assert again.id == first.id
        await t.advance(timedelta(days=2))
        later = await t.trigger(
            "digest-send-for-user",
            {"digestId": digest["id"], "userId": uid},  # the user is the singleton key
            idempotency_key=first.idempotency_key,
        )
        assert later.id == first.id
        # even a run without the key (a replay) finds the digest sent and sends nothing
        replay = await dg.app.replay_async(first.id)
        await t.advance(timedelta(0))
        assert (await t.get_run(replay.id)).result == {"sent": False, "sentAt": START.isoformat()}
        first_day = [m for m in outbox(dg.app, uid, "note-digest") if m.created_at == START]
        assert len(first_day) == 1
        assert dg.data.digest(digest["id"])["sentAt"] == START.isoformat()  # type: ignore[index]


async def test_one_digest_send_per_user_at_a_time(dg: Digest) -> None:
    """digest-send-for-user is a singleton per user: while one send of a user is queued,
    running or retrying, another trigger for that user returns it instead of racing."""
    async with TestEngine(dg.app, start=START) as t:
        uid, _ = user_with_notes(dg, "Ana", "UTC", hour=20)
        other, _ = user_with_notes(dg, "Bo", "UTC", hour=20)
        await t.advance(timedelta(seconds=2))  # Notion's rate limit spaces the two syncs
        [digest] = dg.data.digests_of(uid)
        payload = {"digestId": digest["id"], "userId": uid}
        held = await t.trigger("digest-send-for-user", payload, delay=timedelta(hours=1))
        again = await t.trigger("digest-send-for-user", payload, idempotency_key="again")
        elsewhere = await t.trigger(
            "digest-send-for-user",
            {"digestId": dg.data.digests_of(other)[0]["id"], "userId": other},
            delay=timedelta(hours=1),
        )
        assert (again.id, again.created) == (held.id, False)
        assert elsewhere.created
        await t.advance(timedelta(hours=1))
        assert (await t.get_run(held.id)).status is RunStatus.COMPLETED
        # the skipped trigger's idempotency key was not used up: it starts a run now
        after = await t.trigger("digest-send-for-user", payload, idempotency_key="again")
        assert after.created
        assert after.id != held.id


# -- email-sequence-runner ----------------------------------------------------------------------


async def test_welcome_sequence_waits_for_each_step(dg: Digest) -> None:
    async with TestEngine(dg.app, start=START) as t:
        uid = dg.backend.sign_up(email="zoe@example.com", name="Zoe", timezone="UTC")
        await t.advance(timedelta(0))
        assert [m.subject for m in outbox(dg.app, uid, "welcome-hello")] == [
            "Welcome to Notes, Zoe"
        ]
        await t.advance(timedelta(days=1) - timedelta(seconds=1))
        assert outbox(dg.app, uid, "welcome-connect-notes") == []
        await t.advance(timedelta(seconds=1))
        assert len(outbox(dg.app, uid, "welcome-connect-notes")) == 1
        await t.advance(timedelta(days=3))
        [last] = outbox(dg.app, uid, "welcome-first-review")
        assert last.created_at == START + timedelta(days=4)
        state = dg.data.sequence_state(uid, "welcome")
        assert state is not None
        assert (state["status"], state["nextStep"]) == ("completed", 3)
        [run] = await t.list_runs("email-sequence-runner")
        assert run.idempotency_key == sequence_key("welcome", uid) == f"sequence-run-welcome-{uid}"
        assert run.status is RunStatus.COMPLETED
        assert dg.data.sends_of(uid) == [
            ("welcome", "welcome"), ("welcome", "connect"), ("welcome", "first-review"),
        ]  # fmt: skip


async def test_one_runner_per_user_and_sequence(dg: Digest) -> None:
    async with TestEngine(dg.app, start=START) as t:
        uid = dg.backend.sign_up(email="kim@example.com", name="Kim", timezone="UTC")
        await t.advance(timedelta(days=2))
        # the backend asks again (a retried signup handler, a second device): same run
        handle = dg.backend.start_sequence(uid, "welcome")
        assert not handle.created
        await t.advance(timedelta(days=5))
        assert len(await t.list_runs("email-sequence-runner")) == 1
        for type_id in ("welcome-hello", "welcome-connect-notes", "welcome-first-review"):
            assert len(outbox(dg.app, uid, type_id)) == 1


async def test_unsubscribing_ends_the_sequence_before_the_next_send(dg: Digest) -> None:
    async with TestEngine(dg.app, start=START) as t:
        uid = dg.backend.sign_up(email="lee@example.com", name="Lee", timezone="UTC")
        await t.advance(timedelta(hours=12))
        dg.backend.unsubscribe(uid)
        await t.advance(timedelta(days=6))
        assert len(outbox(dg.app, uid, "welcome-hello")) == 1
        assert outbox(dg.app, uid, "welcome-connect-notes") == []
        [run] = await t.list_runs("email-sequence-runner")
        assert run.result == {"exited": "unsubscribed", "before": "connect"}
        state = dg.data.sequence_state(uid, "welcome")
        assert state is not None
        assert (state["status"], state["exitReason"]) == ("exited", "unsubscribed")


# -- upgrade-sequence-discover --------------------------------------------------------------------


async def test_upgrade_discovery_enrolls_once_and_upgrading_mid_sequence_stops_it(
    dg: Digest,
) -> None:
    two_weeks_ago = START - timedelta(days=14, minutes=30)
    veteran = dg.data.create_user(
        email="vera@example.com", name="Vera", timezone="Europe/Berlin", digest_hour=7,
        now=two_weeks_ago, user_id="vera",
    )  # fmt: skip
    newcomer = dg.data.create_user(
        email="noah@example.com", name="Noah", timezone="UTC", digest_hour=7, now=START,
        user_id="noah",
    )  # fmt: skip
    for uid in (veteran, newcomer):
        dg.app.recipients.upsert(uid, email=f"{uid}@example.com", locale="en")
        dg.notion.put_page(f"tok-{uid}", "p1", "A page", "text", START)
    async with TestEngine(dg.app, start=START) as t:
        for uid in (veteran, newcomer):
            dg.backend.connect_notion(uid, "ws", f"tok-{uid}")
        await t.advance(timedelta(hours=1))  # the 19:00 tick discovers Vera only
        [why] = outbox(dg.app, veteran, "upgrade-why-pro", "email")
        assert why.created_at == utc(6, 19)
        assert outbox(dg.app, newcomer, "upgrade-why-pro") == []
        await t.advance(timedelta(days=1))
        dg.backend.upgrade(veteran)  # upgrades between the first and second email
        await t.advance(timedelta(days=8))
        assert outbox(dg.app, veteran, "upgrade-pro-features") == []
        assert outbox(dg.app, veteran, "upgrade-last-call") == []
        runners = [
            r for r in await t.list_runs("email-sequence-runner", limit=100)
            if r.payload["sequenceName"] == "upgrade"
        ]  # fmt: skip
        assert [r.idempotency_key for r in runners] == ["sequence-run-upgrade-vera"]
        assert runners[0].result == {"exited": "upgraded", "before": "pro-features"}
        state = dg.data.sequence_state(veteran, "upgrade")
        assert state is not None
        assert (state["status"], state["exitReason"]) == ("exited", "upgraded")
        # hourly discovery ran ~200 times; Vera was enrolled once, Noah not yet (14 days)
        assert len(await t.list_runs("upgrade-sequence-discover", limit=500)) > 200


# -- notion-sync-weekly ---------------------------------------------------------------------------


async def test_weekly_sync_rate_limited_incremental_and_one_failure_isolated(dg: Digest) -> None:
    async with TestEngine(dg.app, start=START) as t:
        ana, con_a = user_with_notes(dg, "Ana", "UTC")
        ben, con_b = user_with_notes(dg, "Ben", "UTC")
        cal, con_c = user_with_notes(dg, "Cal", "UTC")
        await t.advance(timedelta(minutes=5))  # initial syncs
        assert all(dg.data.connection(c)["lastSyncedAt"] for c in (con_a, con_b, con_c))
        edited = START + timedelta(hours=3)
        dg.notion.put_page("secret-ana", "Ana-p1", "Ana page 1 (edited)", "New", edited)
        dg.notion.put_page("secret-ana", "Ana-p9", "Ana page 9", "Brand new", edited)
        dg.notion.fail("secret-cal", SourceUnauthorized("API token is invalid"))
        dg.notion.fail("secret-ben", SourceUnavailable("502 from Notion"), times=1)
        dg.notion.requests.clear()

        sunday = utc(8, 3)  # Sundays 03:00 UTC
        await t.advance(sunday - t.now())
        [weekly] = await t.list_runs("notion-sync-weekly")
        assert weekly.status is RunStatus.COMPLETED
        assert sorted(weekly.result["connections"]) == sorted([con_a, con_b, con_c])
        await t.advance(timedelta(minutes=10))

        syncs = [
            r for r in await t.list_runs("notion-sync-connection", limit=100)
            if r.created_at >= sunday
        ]  # fmt: skip
        by_connection = {r.payload["connectionId"]: r for r in syncs}
        assert len(by_connection) == 3
        # at most one connection started every 2 seconds
        starts = sorted(r.started_at for r in syncs if r.started_at is not None)
        assert starts[0] == sunday
        assert all(b - a >= timedelta(seconds=2) for a, b in itertools.pairwise(starts))
        first_requests: dict[str, datetime] = {}
        for at, token, _ in dg.notion.requests:
            first_requests.setdefault(token, at)
        times = sorted(first_requests.values())
        assert all(b - a >= timedelta(seconds=2) for a, b in itertools.pairwise(times))

        # Ana: only the two pages edited since the last cursor were fetched
        assert by_connection[con_a].status is RunStatus.COMPLETED
        assert by_connection[con_a].result == {"pages": 2, "firstDigest": None}
        titles = [n["title"] for n in dg.data.notes_of(ana)]
        assert titles == ["Ana page 0", "Ana page 1 (edited)", "Ana page 2", "Ana page 9"]
        # Ben: a transient 502, retried a minute later, then nothing new to fetch
        assert by_connection[con_b].status is RunStatus.COMPLETED
        assert by_connection[con_b].attempt == 2
        assert by_connection[con_b].result == {"pages": 0, "firstDigest": None}
        # Cal: a revoked token fails that run alone and deactivates the connection
        failed = by_connection[con_c]
        assert failed.status is RunStatus.FAILED
        assert failed.error is not None
        assert "API token is invalid" in failed.error.message
        assert dg.data.connection(con_c)["active"] is False
        assert dg.data.connection(con_c)["lastError"] == "SourceUnauthorized: API token is invalid"
        assert con_c not in dg.data.active_connections()
        assert len(dg.data.notes_of(cal)) == 3
        assert len(dg.data.notes_of(ben)) == 3
