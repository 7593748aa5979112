"""The seven MediLink tasks of table A, written against the :class:`Directory` protocol.

Each task is the Trigger.dev task of the original ADR with the hosted services replaced:
``ctx.notify`` routes to in-app / email / push / SMS in the recipient's language, waits
are durable rows, and the backend's answers are memoized steps.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from examples.common.timing import checkpoint
from tidings import CancelOn, Context, Debounce, Tidings, Topic

from .domain import Directory, provider_topic

PROFILE_REMINDER_AFTER = timedelta(days=3)
FIRST_REQUEST_NUDGE_AFTER = timedelta(days=7)  # counted from the profile check
REMIND_BEFORE = timedelta(hours=24)
REMIND_AGAIN_BEFORE = timedelta(hours=2)
"""An appointment not confirmed by then is reminded once more."""
ASK_AT_LEAST = timedelta(minutes=30)
"""Closer than this to the second reminder, the first reminder asks nothing."""
QUOTE_ANSWER_WITHIN = timedelta(hours=48)
QUOTE_DECISION_WITHIN = timedelta(days=5)
"""How long the follow-up question stays open for the hospital's accept / decline."""
NEW_QUOTES_QUIET = timedelta(minutes=10)  # quotes on one request this close are one message
NEW_QUOTES_AT_MOST = timedelta(hours=1)  # ...but a steady trickle is told at least hourly
PROVIDER_REMINDER_AFTER = timedelta(hours=24)
PROVIDER_SMS_AFTER = timedelta(hours=48)
INACTIVE_AFTER_DAYS = 7


class UserRegistered(BaseModel):
    userId: str
    email: str
    name: str
    role: str = "hospital"


class AppointmentCreated(BaseModel):
    appointmentId: str
    userId: str
    startsAt: str


class QuoteSent(BaseModel):
    quoteId: str
    requestId: str
    providerId: str
    hospitalUserId: str


class PrescriptionReady(BaseModel):
    prescriptionId: str
    userId: str
    pharmacy: str


class LabCompleted(BaseModel):
    labOrderId: str
    userId: str
    testName: str


class ServiceRequestCreated(BaseModel):
    requestId: str
    hospitalId: str
    category: str


def _statuses(result: Any) -> dict[str, str]:
    """A notify result as JSON for the run's result: ``{channel: status}``."""
    return {d.channel: d.status for d in result.deliveries}


def _onboarding(app: Tidings, data: Directory) -> None:
    @app.task(on_event="user.registered")
    async def onboarding_drip(ctx: Context, user: UserRegistered) -> dict[str, Any]:
        """Welcome at once; day 3: profile reminder if incomplete; day 10: first-request nudge."""
        await ctx.notify("welcome", to=user.userId, data={"name": user.name, "role": user.role})
        await ctx.sleep(PROFILE_REMINDER_AFTER, name="wait-for-profile")
        profile = await ctx.step("check-profile", data.profile, user.userId)
        if not profile["complete"]:
            await ctx.notify(
                "profile-reminder",
                to=user.userId,
                data={"name": profile["name"], "missing": profile["missing"]},
            )
        if user.role != "hospital":  # providers answer requests; they never make one
            return {"profileReminder": not profile["complete"], "firstRequestNudge": False}
        await ctx.sleep(FIRST_REQUEST_NUDGE_AFTER, name="wait-for-first-request")
        has_request = await ctx.step("check-first-request", data.has_first_request, user.userId)
        if not has_request:
            await ctx.notify("first-request-nudge", to=user.userId, data={"name": profile["name"]})
        return {"profileReminder": not profile["complete"], "firstRequestNudge": not has_request}


def _appointments(app: Tidings, data: Directory) -> None:
    @app.task(
        on_event="appointment.created",
        cancel_on=[CancelOn("appointment.cancelled", match={"appointmentId": "appointmentId"})],
    )
    async def appointment_reminder(ctx: Context, booked: AppointmentCreated) -> dict[str, Any]:
        """Email + SMS 24 h before the appointment (at once if it is sooner), asking the
        patient to confirm ("reply 1 to confirm"); one not confirmed 2 h before is
        reminded once more, a confirmed one never again.

        A reschedule moves the reminder: the run waits for ``appointment.rescheduled``
        until the reminder is due, and plans again from the new time (a reschedule while
        the question is open is seen when it closes). Cancelling the appointment cancels
        the run (``cancel_on``).
        """
        starts_at = datetime.fromisoformat(booked.startsAt)
        while True:
            now = await checkpoint(ctx, "plan")
            if starts_at <= now:
                return {"sent": False, "reason": "appointment already started"}
            remind_at = starts_at - REMIND_BEFORE
            if remind_at > now:
                moved = await ctx.wait_for_event(
                    "appointment.rescheduled",
                    match={"appointmentId": booked.appointmentId},
                    timeout=remind_at - now,
                    name="rescheduled-before-reminder",
                )
                if moved is not None:
                    starts_at = datetime.fromisoformat(moved.data["startsAt"])
                    continue
            current = await ctx.step("load-appointment", data.appointment, booked.appointmentId)
            if current is None or current["status"] != "scheduled":
                return {"sent": False, "reason": "appointment cancelled"}
            if datetime.fromisoformat(current["startsAt"]) != starts_at:
                # moved while this run was busy (so the event found no wait): plan again
                starts_at = datetime.fromisoformat(current["startsAt"])
                continue
            details = {
                "title": current["title"],
                "location": current["location"],
                "when": current["when"],
            }
            now = await checkpoint(ctx, "remind")  # the wait above took its time
            again_at = starts_at - REMIND_AGAIN_BEFORE
            if again_at - now >= ASK_AT_LEAST:
                # the reminder asks; the first answer on any channel (an SMS reply "1",
                # the email's link, the inbox button) resumes the run
                confirmed = await ctx.ask(
                    "appointment-reminder",
                    to=booked.userId,
                    data=details,
                    actions=("confirm",),
                    timeout=again_at - now,
                )
                if confirmed is not None:
                    return {"sent": True, "startsAt": current["startsAt"],
                            "confirmed": True, "channel": confirmed.channel}  # fmt: skip
                now = await checkpoint(ctx, "unconfirmed")
                current = await ctx.step("load-appointment", data.appointment, booked.appointmentId)
                if current is None or current["status"] != "scheduled":
                    return {"sent": True, "reason": "appointment cancelled"}
                if datetime.fromisoformat(current["startsAt"]) != starts_at:
                    starts_at = datetime.fromisoformat(current["startsAt"])
                    continue
            result = await ctx.notify("appointment-reminder", to=booked.userId, data=details)
            return {"sent": True, "startsAt": current["startsAt"], "confirmed": False,
                    "deliveries": _statuses(result)}  # fmt: skip


def _record_quote_answer(data: Directory, quote_id: str, accept: bool, now: datetime) -> bool:
    """Record the hospital's answer unless it answered in the app meanwhile."""
    quote = data.quote(quote_id)
    if quote is None or quote["responded"]:
        return False
    data.respond_to_quote(quote_id, accept, now)
    return True


def _quotes(app: Tidings, data: Directory) -> None:
    @app.task(on_event="quote.sent")
    async def quote_followup(ctx: Context, sent: QuoteSent) -> dict[str, Any]:
        """Ask the hospital to accept or decline a quote nobody answered within 48 h, and
        tell the provider the answer."""
        answer = await ctx.wait_for_event(
            "quote.responded", match={"quoteId": sent.quoteId}, timeout=QUOTE_ANSWER_WITHIN
        )
        if answer is not None:
            return {"reminded": False, "response": answer.data.get("response")}
        quote = await ctx.step("load-quote", data.quote, sent.quoteId)
        if quote is None or quote["responded"]:
            return {"reminded": False, "response": "answered without an event"}
        # Ask the hospital on every channel of the type (email links, inbox buttons,
        # push actions); the first answer, wherever it comes from, resumes this run.
        decision = await ctx.ask(
            "quote-followup",
            to=sent.hospitalUserId,
            data={
                "requestTitle": quote["requestTitle"],
                "providerName": quote["providerName"],
                "amountVnd": quote["amountVnd"],
                "quoteId": sent.quoteId,
            },
            actions=("accept", "decline"),
            timeout=QUOTE_DECISION_WITHIN,
        )
        if decision is None:
            return {"reminded": True, "response": None}
        accepted = decision.action == "accept"
        recorded = await ctx.step(
            "record-answer", _record_quote_answer, data, sent.quoteId, accepted, ctx.now()
        )
        request = await ctx.step("load-request", data.service_request, sent.requestId)
        await ctx.notify(
            "quote-answered",
            to=sent.providerId,
            data={
                "requestTitle": quote["requestTitle"],
                "hospitalName": (request or {}).get("hospitalName") or "",
                "amountVnd": quote["amountVnd"],
                "accepted": accepted,
            },
        )
        return {
            "reminded": True,
            "response": decision.action,
            "channel": decision.channel,
            "recorded": recorded,
        }

    @app.task(
        on_event="quote.sent",
        debounce=Debounce(
            NEW_QUOTES_QUIET, key="requestId", max_wait=NEW_QUOTES_AT_MOST, keep="all"
        ),
    )
    async def new_quotes(ctx: Context, quotes: list[dict[str, Any]]) -> dict[str, Any]:
        """One "you have N new quotes" message for a burst of quotes on one request."""
        sent = [QuoteSent.model_validate(q) for q in quotes]
        request = await ctx.step("load-request", data.service_request, sent[0].requestId)
        if request is None:
            return {"told": False}
        await ctx.notify(
            "new-quotes",
            to=sent[0].hospitalUserId,
            data={"count": len(sent), "requestTitle": request["title"]},
        )
        return {"told": True, "quotes": [q.quoteId for q in sent]}


def _prescriptions(app: Tidings, data: Directory) -> None:
    @app.task(on_event="prescription.ready")
    async def prescription_ready(ctx: Context, ready: PrescriptionReady) -> dict[str, Any]:
        """SMS + push at once; the type is critical, so opt-outs and quiet hours do not apply."""
        result = await ctx.notify(
            "prescription-ready",
            to=ready.userId,
            data={"pharmacy": ready.pharmacy, "prescriptionId": ready.prescriptionId},
        )
        return {"deliveries": _statuses(result)}


def _lab_results(app: Tidings, data: Directory) -> None:
    @app.task(on_event="lab.completed")
    async def lab_results_ready(ctx: Context, lab: LabCompleted) -> dict[str, Any]:
        """Email + push at once."""
        result = await ctx.notify(
            "lab-results-ready",
            to=lab.userId,
            data={"testName": lab.testName, "labOrderId": lab.labOrderId},
        )
        return {"deliveries": _statuses(result)}


def _inactive_users(app: Tidings, data: Directory) -> None:
    @app.task(cron="0 9 * * 1", timezone="Asia/Ho_Chi_Minh")
    async def inactive_user(ctx: Context, tick: dict[str, Any]) -> dict[str, Any]:
        """Mondays 09:00 Vietnam time: re-engage users idle for 7 days, once a week at most."""
        now = await checkpoint(ctx)
        idle = await ctx.step("find-inactive", data.inactive_users, now.isoformat(), 7)
        ids = [u["id"] for u in idle]
        if ids:
            # One broadcast to the whole audience; each email greets its recipient by
            # the name in the recipient's profile ({{ recipient.name }}).
            await ctx.notify("re-engagement", to=ids, data={})
            await ctx.step("mark-reengaged", _mark_all, data, ids, now.isoformat())
        return {"reengaged": ids}


def _mark_all(data: Directory, ids: list[str], now_iso: str) -> int:
    return sum(data.mark_reengaged(i, now_iso) for i in ids)


def _provider_drip(app: Tidings, data: Directory) -> None:
    @app.task(on_event="service_request.created")
    async def provider_notification_drip(
        ctx: Context, created: ServiceRequestCreated
    ) -> dict[str, Any]:
        """Tell every provider in the category at once; remind at 24 h, text at 48 h."""
        request = await ctx.step("load-request", data.service_request, created.requestId)
        providers = await ctx.step("find-providers", data.providers_in_category, created.category)
        audience = Topic(provider_topic(created.category))
        info = {
            "requestTitle": request["title"],
            "category": request["category"],
            "hospitalName": request["hospitalName"],
            "requestId": created.requestId,
        }
        # one broadcast to the category's topic (providers join it with their profile)
        await ctx.notify("service-request-new", to=audience, data=info)
        stages = [("24h", "service-request-reminder"), ("48h", "service-request-urgent")]
        previous = timedelta(0)
        for (label, type_id), after in zip(
            stages, (PROVIDER_REMINDER_AFTER, PROVIDER_SMS_AFTER), strict=True
        ):
            quote = await ctx.wait_for_event(
                "quote.sent",
                match={"requestId": created.requestId},
                timeout=after - previous,
                name=f"quote-within-{label}",
            )
            previous = after
            if quote is not None:
                return {"providers": len(providers), "quotedAfter": label}
            state = await ctx.step(f"check-quotes-{label}", data.service_request, created.requestId)
            if state["quotes"] or state["status"] != "open":
                return {"providers": len(providers), "quotedAfter": label}
            await ctx.notify(type_id, to=audience, data=info)
        return {"providers": len(providers), "quotedAfter": None}


def register_tasks(app: Tidings, data: Directory) -> None:
    """Declare table A's tasks on ``app``; they ask ``data`` about users and requests."""
    for register in (
        _onboarding,
        _appointments,
        _quotes,
        _prescriptions,
        _lab_results,
        _inactive_users,
        _provider_drip,
    ):
        register(app, data)
