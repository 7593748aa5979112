"""Expo push against a loopback server speaking the push API's wire format."""

from __future__ import annotations

import gzip
from typing import Any

import pytest

from tests.fakes.fake_expo import FakeExpo
from tests.fakes.server import Response, refused_url
from tidings.providers import (
    Message,
    PermanentProviderError,
    RetryableProviderError,
    SendResult,
)
from tidings.providers.expo import Expo


def token(n: int) -> str:
    return f"ExponentPushToken[device-{n:04d}]"


def push(n: int = 1, **changes: Any) -> Message:
    fields: dict[str, Any] = {
        "delivery_id": f"dlv_{n}",
        "idempotency_key": f"idem-{n}",
        "channel": "push",
        "type_id": "prescription-ready",
        "to": token(n),
        "locale": "en",
        "title": "Prescription ready",
        "body": "Pick it up at Pharmacy 3",
        "data": {"orderId": n},
    }
    fields.update(changes)
    return Message(**fields)


async def test_single_message_is_one_object_answered_by_one_ticket(
    expo_server: FakeExpo,
) -> None:
    expo = Expo(base_url=expo_server.url)
    try:
        result = await expo.send(push())
    finally:
        await expo.aclose()
    assert isinstance(result, SendResult)
    assert result.provider_message_id in expo_server.tickets
    wire = expo_server.requests[0]
    assert wire.path == "/--/api/v2/push/send"
    assert wire.headers["content-encoding"] == "gzip"
    assert gzip.decompress(wire.raw) == wire.body
    assert wire.headers["content-type"] == "application/json"
    assert "gzip" in wire.headers["accept-encoding"]
    assert "authorization" not in wire.headers
    assert wire.json() == {
        "to": token(1),
        "title": "Prescription ready",
        "body": "Pick it up at Pharmacy 3",
        "data": {"orderId": 1},
        "sound": "default",
    }


async def test_batch_of_250_goes_in_requests_of_100_in_order(expo_server: FakeExpo) -> None:
    expo_server.unregistered.add(token(7))
    expo = Expo(base_url=expo_server.url)
    try:
        outcomes = await expo.send_batch([push(n) for n in range(250)])
    finally:
        await expo.aclose()
    assert [len(r.json()) for r in expo_server.requests] == [100, 100, 50]
    sent = [m["to"] for r in expo_server.requests for m in r.json()]
    assert sent == [token(n) for n in range(250)]
    assert len(outcomes) == 250
    bad = outcomes[7]
    assert isinstance(bad, PermanentProviderError)
    assert bad.code == "DeviceNotRegistered"
    assert bad.deactivate_token
    ok = [o for i, o in enumerate(outcomes) if i != 7]
    assert all(isinstance(o, SendResult) and o.provider_message_id in expo_server.tickets
               for o in ok)  # fmt: skip


async def test_ticket_errors_map_to_outcomes(expo_server: FakeExpo) -> None:
    expo_server.rate_exceeded.add(token(2))
    expo = Expo(base_url=expo_server.url)
    try:
        outcomes = await expo.send_batch(
            [push(1, data={"blob": "x" * 5000}), push(2), push(3, to="not-a-token")]
        )
    finally:
        await expo.aclose()
    too_big, rate, malformed = outcomes
    assert isinstance(too_big, PermanentProviderError)
    assert too_big.code == "MessageTooBig"
    assert not too_big.deactivate_token
    assert isinstance(rate, RetryableProviderError)
    assert rate.code == "MessageRateExceeded"
    assert isinstance(malformed, PermanentProviderError)
    assert malformed.deactivate_token
    assert len(expo_server.requests[0].json()) == 2  # the malformed token never left


async def test_single_device_not_registered_raises(expo_server: FakeExpo) -> None:
    expo_server.unregistered.add(token(1))
    expo = Expo(base_url=expo_server.url)
    try:
        with pytest.raises(PermanentProviderError) as failed:
            await expo.send(push())
    finally:
        await expo.aclose()
    assert failed.value.deactivate_token


async def test_too_many_requests_backs_off(expo_server: FakeExpo) -> None:
    expo_server.script.append(
        Response(429, {"errors": [{"code": "TOO_MANY_REQUESTS", "message": "600/s"}]},
                 {"retry-after": "2"})
    )  # fmt: skip
    expo = Expo(base_url=expo_server.url)
    try:
        with pytest.raises(RetryableProviderError) as limited:
            await expo.send(push())
        outcomes = await expo.send_batch([push(1), push(2)])  # the next request goes through
    finally:
        await expo.aclose()
    assert limited.value.code == "TOO_MANY_REQUESTS"
    assert limited.value.retry_after == 2.0
    assert all(isinstance(o, SendResult) for o in outcomes)


async def test_request_error_fails_the_whole_batch(expo_server: FakeExpo) -> None:
    expo_server.script.append(
        Response(400, {"errors": [{"code": "PUSH_TOO_MANY_EXPERIENCE_IDS", "message": "mixed"}]})
    )
    expo_server.script.append(Response(502, b"bad gateway"))
    expo = Expo(base_url=expo_server.url)
    try:
        mixed = await expo.send_batch([push(1), push(2)])
        outage = await expo.send_batch([push(3)])
    finally:
        await expo.aclose()
    assert [type(o) for o in mixed] == [PermanentProviderError] * 2
    assert all(isinstance(o, PermanentProviderError) and o.code == "PUSH_TOO_MANY_EXPERIENCE_IDS"
               for o in mixed)  # fmt: skip
    assert isinstance(outage[0], RetryableProviderError)
    assert outage[0].code == "http_502"


async def test_access_token_is_sent_as_bearer_and_checked() -> None:
    with FakeExpo(access_token="expo_secret_token").running() as server:
        good = Expo(access_token="expo_secret_token", base_url=server.url)
        bad = Expo(access_token="expo_wrong_token", base_url=server.url)
        try:
            assert isinstance(await good.send(push()), SendResult)
            with pytest.raises(RetryableProviderError) as refused:
                await bad.send(push())
        finally:
            await good.aclose()
            await bad.aclose()
    assert server.requests[0].headers["authorization"] == "Bearer expo_secret_token"
    assert refused.value.code == "UNAUTHORIZED"
    assert "expo_wrong_token" not in str(refused.value) + repr(bad)


async def test_timeout_and_refused_connection_are_retryable(expo_server: FakeExpo) -> None:
    expo_server.script.append(Response(200, {"data": {"status": "ok", "id": "x"}}, delay=1.0))
    slow = Expo(base_url=expo_server.url, timeout=0.2)
    down = Expo(base_url=refused_url())
    try:
        with pytest.raises(RetryableProviderError) as timed_out:
            await slow.send(push())
        outcomes = await down.send_batch([push(1), push(2)])
    finally:
        await slow.aclose()
        await down.aclose()
    assert timed_out.value.code == "timeout"
    assert all(isinstance(o, RetryableProviderError) and o.code == "connect_error"
               for o in outcomes)  # fmt: skip


async def test_receipts_in_chunks_of_1000_with_errors_mapped(expo_server: FakeExpo) -> None:
    expo = Expo(base_url=expo_server.url, rate_limit=None)
    try:
        outcomes = await expo.send_batch([push(n) for n in range(1200)])
        ids = [
            o.provider_message_id
            for o in outcomes
            if isinstance(o, SendResult) and o.provider_message_id is not None
        ]
        assert len(ids) == 1200
        gone, big, waiting = ids[5], ids[1100], ids[1199]
        expo_server.receipts[gone] = {
            "status": "error",
            "message": "The device cannot receive push notifications anymore",
            "details": {"error": "DeviceNotRegistered"},
        }
        expo_server.receipts[big] = {
            "status": "error", "message": "too big", "details": {"error": "MessageTooBig"}
        }  # fmt: skip
        expo_server.pending.add(waiting)
        before = len(expo_server.requests)
        receipts = await expo.get_receipts([*ids, "unknown-id"])
    finally:
        await expo.aclose()
    calls = expo_server.requests[before:]
    assert [r.path for r in calls] == ["/--/api/v2/push/getReceipts"] * 2
    assert [len(r.json()["ids"]) for r in calls] == [1000, 201]
    assert len(receipts) == 1199  # the pending one and the unknown id are left out
    assert receipts[ids[0]].status == "ok"
    assert receipts[ids[0]].error is None
    error = receipts[gone].error
    assert isinstance(error, PermanentProviderError)
    assert error.deactivate_token
    assert receipts[big].status == "error"
    big_error = receipts[big].error
    assert big_error is not None
    assert big_error.code == "MessageTooBig"
    assert waiting not in receipts


async def test_a_rate_limit_below_100_makes_smaller_batches(expo_server: FakeExpo) -> None:
    expo = Expo(access_token=None, base_url=expo_server.url, rate_limit=40)
    try:
        outcomes = await expo.send_batch([push(n) for n in range(90)])
    finally:
        await expo.aclose()
    assert [len(r.json()) for r in expo_server.requests] == [40, 40, 10]
    assert all(isinstance(o, SendResult) for o in outcomes)
