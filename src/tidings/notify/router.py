"""Routing: per channel, whether and when a notification goes out, and what it says.

Pure decisions over what the store read in one transaction (:class:`RoutingInputs`):

========================================== ============ =====================
condition (checked in this order)          status       note
========================================== ============ =====================
no address / no active push token          ``skipped``
opted out (type, else channel-global),     ``suppressed``
non-critical
every address suppressed                   ``suppressed`` critical too
push/SMS in quiet hours, non-critical      ``deferred`` sent when they end
in_app                                     ``delivered`` inbox row written
otherwise                                  ``pending``  a durable run sends it
========================================== ============ =====================

Content is rendered here, so the delivery log holds exactly what was sent; a template
error fails that delivery alone (``failed``, the error names file and variable).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from tidings.errors import ValidationError
from tidings.ids import new_id
from tidings.notify.privacy import ERASED_REASON
from tidings.notify.recipients import parse_hhmm
from tidings.notify.templates import Rendered, Templates
from tidings.notify.types import NotificationType
from tidings.records.notify import Channel, DeliveryStatus, Recipient
from tidings.store.notifications import NewDelivery
from tidings.store.recipients import GLOBAL_TYPE, RoutingInputs
from tidings.store.runs import NewRun

QUIET_CHANNELS = (Channel.PUSH, Channel.SMS)
"""Quiet hours hold these back; in-app and email are delivered at once."""


class ChannelExtras(Protocol):
    """What a notification adds per channel beyond its data (``ctx.ask``'s actions)."""

    def context(self, channel: Channel, locale: str) -> Mapping[str, Any]:
        """Template variables for this channel's templates."""
        ...

    def data(self, channel: Channel) -> Mapping[str, Any]:
        """Keys added to the delivery's data (push and in-app carry data)."""
        ...

    def finish(self, channel: Channel, locale: str, rendered: Rendered) -> Rendered:
        """The rendered content, completed (e.g. a default block of links appended)."""
        ...


RunFactory = Callable[[str, Channel, datetime | None], NewRun | None]
"""``(delivery id, channel, send at) -> the run that sends it`` (None: a broadcast page
sends it in a batch run of its own)."""


@dataclass(frozen=True)
class Decision:
    status: DeliveryStatus
    addresses: tuple[str, ...]
    reason: str | None = None
    send_at: datetime | None = None


def quiet_until(now: datetime, recipient: Recipient) -> datetime | None:
    """When the recipient's quiet hours end, if ``now`` falls inside them."""
    if recipient.quiet_hours is None:
        return None
    zone = ZoneInfo(recipient.timezone)
    local = now.astimezone(zone)
    start, end = (parse_hhmm(t) for t in recipient.quiet_hours)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        inside, day = start <= clock < end, local.date()
    else:  # spans midnight
        inside = clock >= start or clock < end
        day = local.date() if clock < end else local.date() + timedelta(days=1)
    if not inside:
        return None
    return datetime.combine(day, end, tzinfo=zone).astimezone(UTC)


def _addresses(channel: Channel, inputs: RoutingInputs) -> tuple[str, ...]:
    r = inputs.recipient
    if channel == Channel.IN_APP:
        return (r.id,)
    if channel == Channel.EMAIL:
        return (r.email,) if r.email else ()
    if channel == Channel.SMS:
        return (r.phone,) if r.phone else ()
    return tuple(inputs.tokens)


_MISSING = {
    Channel.EMAIL: "the recipient has no email address",
    Channel.SMS: "the recipient has no phone number",
    Channel.PUSH: "the recipient has no active push token",
}


def opted_in(preferences: Mapping[tuple[str, str], bool], type_id: str, channel: str) -> bool:
    """A type's own setting wins over the channel's global one; default opted in."""
    own = preferences.get((type_id, channel))
    if own is not None:
        return own
    return preferences.get((GLOBAL_TYPE, channel), True)


def decide(
    ntype: NotificationType, channel: Channel, inputs: RoutingInputs, now: datetime
) -> Decision:
    addresses = _addresses(channel, inputs)
    if not addresses:
        return Decision(DeliveryStatus.SKIPPED, (), _MISSING[channel])
    if not ntype.critical and not opted_in(inputs.preferences, ntype.id, channel):
        return Decision(DeliveryStatus.SUPPRESSED, addresses, "opted out")
    if channel != Channel.IN_APP:
        allowed = tuple(a for a in addresses if (channel, a) not in inputs.suppressed)
        if not allowed:
            return Decision(DeliveryStatus.SUPPRESSED, addresses, "address suppressed")
        addresses = allowed
    if channel == Channel.IN_APP:
        return Decision(DeliveryStatus.DELIVERED, addresses)
    if channel in QUIET_CHANNELS and not ntype.critical:
        until = quiet_until(now, inputs.recipient)
        if until is not None:
            return Decision(DeliveryStatus.DEFERRED, addresses, "quiet hours", until)
    return Decision(DeliveryStatus.PENDING, addresses)


def plan(
    ntype: NotificationType,
    channels: Sequence[Channel],
    inputs: RoutingInputs,
    data: dict[str, Any],
    templates: Templates,
    now: datetime,
    run_for: RunFactory,
    *,
    context: Mapping[str, Any] | None = None,
    extras: ChannelExtras | None = None,
) -> list[NewDelivery]:
    """One new delivery per channel, rendered, with its send run where it has one.

    ``context``: template variables beside ``data`` (``unsubscribe_url``,
    ``preferences_url``), not stored with the notification's data. Templates also see,
    as ``recipient``, the recipient's id, locale and profile ``data`` (so one broadcast
    can greet each recipient by name); a data key ``recipient`` of the notification's
    own wins. ``extras`` adds per-channel variables, data and content."""
    r = inputs.recipient
    locale = r.locale or templates.default_locale
    variables = {**data, **(context or {})}
    if "recipient" not in data:
        variables["recipient"] = _profile(r, locale)
    out: list[NewDelivery] = []
    for channel in channels:
        decision = decide(ntype, channel, inputs, now)
        out.append(
            _delivery(ntype, channel, decision, locale, data, templates, run_for, variables, extras)
        )
    return out


def erased_deliveries(channels: Sequence[Channel], locale: str) -> list[NewDelivery]:
    """One ``skipped`` delivery per channel, reason ``erased``: the recipient was erased
    (``app.recipients.erase``) and nothing is sent to, or kept about, them."""
    return [
        NewDelivery(
            id=new_id("dlv"),
            channel=channel,
            addresses=(),
            locale=locale,
            status=DeliveryStatus.SKIPPED,
            reason=ERASED_REASON,
        )
        for channel in channels
    ]


def _profile(r: Recipient, locale: str) -> dict[str, Any]:
    return {**r.data, "id": r.id, "locale": locale}


def _delivery(
    ntype: NotificationType,
    channel: Channel,
    decision: Decision,
    locale: str,
    data: dict[str, Any],
    templates: Templates,
    run_for: RunFactory,
    context: dict[str, Any],
    extras: ChannelExtras | None = None,
) -> NewDelivery:
    if extras is not None:
        context = {**context, **extras.context(channel, locale)}
        data = {**data, **extras.data(channel)}
    delivery = NewDelivery(
        id=new_id("dlv"),
        channel=channel,
        addresses=decision.addresses,
        locale=locale,
        status=decision.status,
        reason=decision.reason,
        data=json.dumps(data) if channel in (Channel.PUSH, Channel.IN_APP) else "{}",
    )
    if decision.status in (DeliveryStatus.SKIPPED, DeliveryStatus.SUPPRESSED):
        return delivery
    try:
        rendered = templates.render(ntype.id, channel, locale, context, root=ntype.templates)
        if extras is not None:
            rendered = extras.finish(channel, locale, rendered)
    except ValidationError as exc:  # TemplateError, or no templates root at all
        return replace(delivery, status=DeliveryStatus.FAILED, error=str(exc))
    sms = rendered.sms
    delivery = replace(
        delivery,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        title=rendered.title,
        body=rendered.body,
        sms=None
        if sms is None
        else json.dumps({"encoding": sms.encoding, "units": sms.units, "segments": sms.segments}),
    )
    if channel == Channel.IN_APP:
        return replace(delivery, inbox_item_id=new_id("inb"))
    run = run_for(delivery.id, channel, decision.send_at)
    return replace(delivery, send_at=decision.send_at, run=run)
