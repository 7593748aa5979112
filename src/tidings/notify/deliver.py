"""The built-in ``tidings.deliver`` task: sends one delivery of an external channel.

Each delivery pending or deferred by routing gets a run of this task (deferred ones due
when quiet hours end), created in the same transaction as the delivery, so a send
survives crashes and waits on the engine's timers. Every provider call is a memoized step
(a resumed run never repeats a send that completed); backoff between retries is a durable
sleep honouring the provider's ``retry_after``; past a provider's ``max_attempts`` the
delivery fails over to the channel's next provider. A provider with a ``rate_limit`` sends
only when the budget shared by every worker (in the store) has room, else the run sleeps
durably until it has. Every attempt is appended to the
delivery's ``history``.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

from tidings.kernel import Kernel, TaskContext
from tidings.notify.budget import admit, finish
from tidings.notify.service import DELIVER_TASK, DELIVERY_KEY_PREFIX, Notifications
from tidings.providers.base import (
    Message,
    PermanentProviderError,
    Provider,
    RetryableProviderError,
    SendResult,
)
from tidings.records.notify import Channel, Delivery, DeliveryStatus
from tidings.store.notifications import SendUpdate

MAX_BACKOFF = timedelta(minutes=10)


def backoff(attempt: int, retry_after: float | None) -> timedelta:
    """1 s, 2 s, 4 s... up to 10 minutes; never sooner than the provider asked."""
    delay = min(timedelta(seconds=2 ** (attempt - 1)), MAX_BACKOFF)
    if retry_after is not None and retry_after > 0:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


def message_for(
    d: Delivery, address: str, data: Any, headers: dict[str, str] | None = None
) -> Message:
    return Message(
        delivery_id=d.id,
        idempotency_key=f"{d.id}:{address}" if d.channel is Channel.PUSH else d.id,
        channel=d.channel,
        type_id=d.type,
        to=address,
        locale=d.locale,
        subject=d.subject,
        html=d.html,
        text=d.text,
        title=d.title,
        body=d.body,
        data=data if d.channel == Channel.PUSH and isinstance(data, dict) else {},
        critical=d.critical,
        headers=headers or {},
    )


def email_headers(service: Notifications, d: Delivery) -> dict[str, str]:
    """``List-Unsubscribe`` of a non-critical email, signed now (see notify/urls.py)."""
    if service.links is None or d.channel != Channel.EMAIL:
        return {}
    return service.links.email_headers(d.to, d.type, d.critical)


async def _attempt(kernel: Kernel, provider: Provider, message: Message, at: str) -> dict[str, Any]:
    """One provider call, its outcome as JSON (memoized by the step that runs it).

    Under a rate-limited provider the send must first be admitted by the budget all
    workers share; when it is full the outcome is ``throttled`` with the time to try
    again (the caller waits durably, and the try does not count as an attempt).
    """
    base: dict[str, Any] = {"provider": provider.name, "to": message.to, "at": at}
    admitted = await admit(kernel, provider)
    if isinstance(admitted, datetime):
        return {**base, "outcome": "throttled", "until": admitted.isoformat()}
    try:
        return {**base, **await _send(provider, message)}
    finally:
        if admitted is not None:
            await finish(kernel, provider, admitted)


async def _send(provider: Provider, message: Message) -> dict[str, Any]:
    try:
        result = await provider.send(message)
    except RetryableProviderError as exc:
        return {"outcome": "retry", "error": str(exc), "code": exc.code,
                "retry_after": exc.retry_after}  # fmt: skip
    except PermanentProviderError as exc:
        return {"outcome": "failed", "error": str(exc), "code": exc.code,
                "suppress": exc.suppress_address, "deactivate": exc.deactivate_token}  # fmt: skip
    except Exception as exc:  # a provider bug or a network error: worth another try
        return {"outcome": "retry", "error": f"{type(exc).__name__}: {exc}"}
    # details are the provider's own: anything not JSON is kept as its text
    details = json.loads(json.dumps(dict(result.details), default=str))
    return {"outcome": result.status, "message_id": result.provider_message_id,
            "details": details}  # fmt: skip


class _Send:
    """The failover loop over one address."""

    def __init__(
        self,
        ctx: TaskContext,
        service: Notifications,
        d: Delivery,
        data: Any,
        prior: dict[str, Any] | None = None,
    ) -> None:
        self.ctx, self.service, self.d, self.data = ctx, service, d, data
        self.prior = prior
        """A batch run's first attempt of the first provider (it handed the rest here)."""
        self.store = service.kernel.store
        # rebuilt from the memoized attempts on every execution
        self.history: list[dict[str, Any]] = []

    async def to(self, address: str) -> dict[str, Any]:
        ctx, d = self.ctx, self.d
        providers = self.service.divert(d, address)
        if providers is not None:  # the sandbox holds this send: it goes to the outbox
            await asyncio.to_thread(self.store.notifications.mark_sandboxed, d.id)
        else:
            providers = self.service.providers(d.channel)
        last: dict[str, Any] = {"outcome": "failed", "error": "no provider for this channel"}
        for index, provider in enumerate(providers):
            attempt = 0
            if index == 0 and self.prior is not None and self.prior.get("outcome") == "retry":
                last = self.prior
                attempt = 1
                self.history.append(last)
                await self._progress(last)
                if attempt < provider.max_attempts:
                    await ctx.sleep(backoff(attempt, last.get("retry_after")), name="backoff")
            while attempt < provider.max_attempts:
                last = await ctx.step(
                    f"send {d.channel} via {provider.name}",
                    _attempt,
                    self.service.kernel,
                    provider,
                    message_for(d, address, self.data, email_headers(self.service, d)),
                    ctx.now().isoformat(),
                )
                if last["outcome"] == "throttled":  # the shared budget is full: wait for room
                    until = datetime.fromisoformat(last["until"])
                    await ctx.sleep_until(until, name="rate limit")
                    continue
                attempt += 1
                self.history.append(last)
                if last["outcome"] != "retry":
                    return last  # the final update records it
                await self._progress(last)
                if attempt < provider.max_attempts:
                    await ctx.sleep(backoff(attempt, last.get("retry_after")), name="backoff")
        return last

    async def _progress(self, last: dict[str, Any]) -> None:
        if self.ctx.replaying:
            return
        update = SendUpdate(
            status=DeliveryStatus.PENDING,
            provider=last.get("provider"),
            provider_message_id=None,
            attempts=len(self.history),
            error=last.get("error"),
            history=json.dumps(self.history),
            sent_at=None,
        )
        await asyncio.to_thread(
            self.store.notifications.update_delivery, self.d.id, update, self.ctx.now()
        )


def _final(
    d: Delivery, outcomes: list[dict[str, Any]], history: list[dict[str, Any]], now: Any
) -> SendUpdate:
    ok = [o for o in outcomes if o["outcome"] in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED)]
    failed = [
        o for o in outcomes if o["outcome"] not in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED)
    ]
    best = ok[0] if ok else (failed[-1] if failed else {})
    status = DeliveryStatus.FAILED
    if ok:
        delivered = best.get("outcome") == DeliveryStatus.DELIVERED
        status = DeliveryStatus.DELIVERED if delivered else DeliveryStatus.SENT
    suppress = [(d.channel, o["to"]) for o in failed if o.get("suppress")]
    deactivate = [o["to"] for o in failed if o.get("deactivate") and d.channel == Channel.PUSH]
    return SendUpdate(
        status=status,
        provider=best.get("provider"),
        provider_message_id=best.get("message_id"),
        attempts=len(history),
        error=None if ok else best.get("error"),
        history=json.dumps(history),
        sent_at=now if ok else None,
        suppress=suppress,
        deactivate=deactivate,
    )


async def deliver(
    service: Notifications, ctx: TaskContext, payload: dict[str, Any]
) -> dict[str, Any]:
    """Send the delivery ``payload["delivery_id"]`` through its channel's providers."""
    delivery_id = str(payload["delivery_id"])
    store = service.kernel.store
    d = await asyncio.to_thread(store.notifications.delivery, delivery_id)
    if d is None:
        return {"delivery_id": delivery_id, "status": "missing"}
    if d.status.final:  # a re-execution after the end was recorded
        return {"delivery_id": d.id, "status": d.status}
    # Only push messages carry the notification's data to the device (with what the
    # channel added: a question's category and action URLs).
    data = None
    if d.channel == Channel.PUSH:
        data = await asyncio.to_thread(store.notifications.delivery_data, d.id)
    prior = payload.get("prior")
    send = _Send(ctx, service, d, data, prior if isinstance(prior, dict) else None)
    outcomes = [await send.to(address) for address in d.addresses]
    update = _final(d, outcomes, send.history, ctx.now())
    await asyncio.to_thread(store.notifications.update_delivery, d.id, update, ctx.now())
    return {"delivery_id": d.id, "status": update.status, "provider": update.provider}


def _handoff(service: Notifications, handed: list[tuple[str, dict[str, Any] | None]]) -> int:
    """Runs of ``tidings.deliver`` for the deliveries a batch does not finish (keyed by
    delivery, so a re-executed batch makes each once)."""
    kernel = service.kernel
    news = [
        kernel.new_run(
            DELIVER_TASK,
            {"delivery_id": delivery_id, "prior": prior},
            idempotency_key=DELIVERY_KEY_PREFIX + delivery_id,
        )
        for delivery_id, prior in handed
    ]
    kernel.create_runs(news)
    return len(news)


async def _attempt_batch(
    kernel: Kernel, provider: Provider, messages: list[Message], at: str
) -> list[dict[str, Any]]:
    """One batch call; one outcome per message, as :func:`_send` gives it. A call that
    fails as a whole is a ``retry`` of each marked ``whole``; under a rate-limited
    provider the call (one request) is first admitted by the shared budget, and when it
    is full every outcome is ``throttled`` with the time to try again."""
    base = [{"provider": provider.name, "at": at, "to": m.to, "delivery_id": m.delivery_id}
            for m in messages]  # fmt: skip
    admitted, until = await _admit_batch(kernel, provider, len(messages))
    if until is not None and not admitted:
        return [{**b, "outcome": "throttled", "until": until.isoformat()} for b in base]
    # a budget counting messages may have room for some: the rest wait in single runs
    taken = len(messages) if provider.batch_is_one_request or until is None else len(admitted)
    later = [
        {**b, "outcome": "throttled", "until": until.isoformat() if until else at}
        for b in base[taken:]
    ]
    messages, base = messages[:taken], base[:taken]
    try:
        results = await provider.send_batch(messages)
    except RetryableProviderError as exc:
        return [{**b, "outcome": "retry", "whole": True, "error": str(exc), "code": exc.code,
                 "retry_after": exc.retry_after} for b in base]  # fmt: skip
    except Exception as exc:  # a permanent refusal of the whole request, a network error
        error = f"{type(exc).__name__}: {exc}"
        return [{**b, "outcome": "retry", "whole": True, "error": error} for b in base]
    finally:
        for send_id in admitted:
            await finish(kernel, provider, send_id)
    return [{**b, **_one(result)} for b, result in zip(base, results, strict=True)] + later


async def _admit_batch(
    kernel: Kernel, provider: Provider, n: int
) -> tuple[list[str], datetime | None]:
    """Places in the shared budget for a batch call: one for a provider counting requests
    (``batch_is_one_request``), else one per message while there is room. Returns the
    admitted send ids and, if the budget filled up first, when to ask again."""
    if provider.rate_limit is None:
        return [], None
    admitted: list[str] = []
    for _ in range(1 if provider.batch_is_one_request else n):
        found = await admit(kernel, provider)
        if isinstance(found, datetime):
            return admitted, found
        if found is not None:
            admitted.append(found)
    return admitted, None


def _one(result: SendResult | Exception) -> dict[str, Any]:
    if isinstance(result, RetryableProviderError):
        return {"outcome": "retry", "error": str(result), "code": result.code,
                "retry_after": result.retry_after}  # fmt: skip
    if isinstance(result, PermanentProviderError):
        return {"outcome": "failed", "error": str(result), "code": result.code,
                "suppress": result.suppress_address,
                "deactivate": result.deactivate_token}  # fmt: skip
    if isinstance(result, Exception):
        return {"outcome": "retry", "error": f"{type(result).__name__}: {result}"}
    details = json.loads(json.dumps(dict(result.details), default=str))
    return {"outcome": result.status, "message_id": result.provider_message_id,
            "details": details}  # fmt: skip


async def _send_group(
    ctx: TaskContext, kernel: Kernel, provider: Provider, messages: list[Message]
) -> list[dict[str, Any]]:
    """The batch call, waiting out a full budget and retrying a call that failed as a
    whole (same messages, so the same batch idempotency key) up to the provider's
    ``max_attempts``; what still fails then is handed to single runs."""
    attempt = 0
    while True:
        outcomes: list[dict[str, Any]] = await ctx.step(
            f"send {messages[0].channel} batch via {provider.name}",
            _attempt_batch,
            kernel,
            provider,
            messages,
            ctx.now().isoformat(),
        )
        if outcomes and all(o["outcome"] == "throttled" for o in outcomes):
            await ctx.sleep_until(datetime.fromisoformat(outcomes[0]["until"]), name="rate limit")
            continue
        if not outcomes or not all(o.get("whole") for o in outcomes):
            return outcomes
        attempt += 1
        if attempt >= provider.max_attempts:
            return outcomes
        await ctx.sleep(backoff(attempt, outcomes[0].get("retry_after")), name="backoff")


async def _group(
    service: Notifications, todo: list[Delivery]
) -> tuple[dict[int, tuple[Provider, list[Delivery]]], list[tuple[str, dict[str, Any] | None]]]:
    """The deliveries a batch call can take, by first provider; and the others."""
    store = service.kernel.store
    handed: list[tuple[str, dict[str, Any] | None]] = []
    groups: dict[int, tuple[Provider, list[Delivery]]] = {}
    for d in todo:
        if len(d.addresses) != 1:
            handed.append((d.id, None))
            continue
        providers = service.divert(d, d.addresses[0])
        if providers is not None:
            await asyncio.to_thread(store.notifications.mark_sandboxed, d.id)
        else:
            providers = service.providers(d.channel)
        first = providers[0] if providers else None
        if first is None:
            handed.append((d.id, None))
            continue
        groups.setdefault(id(first), (first, []))[1].append(d)
    return groups, handed


async def deliver_batch(
    service: Notifications, ctx: TaskContext, payload: dict[str, Any]
) -> dict[str, Any]:
    """The built-in ``tidings.deliver_batch`` task: send a broadcast page's deliveries of
    one channel, up to 100, in one provider call per provider (``Provider.send_batch``).

    Each delivery with one address whose first provider has no shared rate limit goes
    in the batch call (a memoized step); a message the provider took is recorded with
    the others in one statement, one it rejected for good fails alone, and one worth
    another try (or a push to several tokens, or a rate-limited provider) is handed to a
    run of ``tidings.deliver`` of its own, which retries and fails over as for a single
    notification.
    """
    ids = [str(i) for i in payload["delivery_ids"]]
    kernel = service.kernel
    store = kernel.store
    found = await asyncio.to_thread(store.notifications.deliveries_many, ids)
    groups, handed = await _group(service, [d for d in found if not d.status.final])
    updates: list[tuple[str, SendUpdate]] = []
    for provider, members in groups.values():
        datas: dict[str, Any] = {}
        for d in members:
            if d.channel == Channel.PUSH and d.notification_id not in datas:
                datas[d.notification_id] = await asyncio.to_thread(
                    store.notifications.data, d.notification_id
                )
        messages = [
            message_for(d, d.addresses[0], datas.get(d.notification_id), email_headers(service, d))
            for d in members
        ]
        outcomes = await _send_group(ctx, kernel, provider, messages)
        # by delivery: a re-execution may find fewer of them still to send
        by_id = {o["delivery_id"]: o for o in outcomes}
        for d in members:
            outcome = by_id.get(d.id)
            if outcome is None or outcome["outcome"] == "throttled":
                handed.append((d.id, None))
            elif outcome["outcome"] == "retry":
                handed.append((d.id, outcome))
            else:
                updates.append((d.id, _final(d, [outcome], [outcome], ctx.now())))
    if handed:
        await ctx.step("hand off", _handoff, service, handed)
    if updates:
        await asyncio.to_thread(store.notifications.update_deliveries, updates, ctx.now())
    return {"deliveries": len(ids), "finished": len(updates), "handed_off": len(handed)}
