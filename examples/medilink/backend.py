"""The MediLink product backend: its mutations write the data, then publish events.

This is the part of MediLink that already exists in the real system (Convex mutations);
the only tidings calls here are the ones such a backend makes: keep the recipient
profile in step (``app.recipients``), register push tokens, and publish an event after
each change (``app.send_event``), exactly where the original published to Trigger.dev.
Every event has an id derived from the change, so a retried mutation publishes once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from tidings import Tidings

from .domain import PROVIDER_TOPIC, Role, SqlDirectory, User, provider_topic

Clock = Callable[[], datetime]


class Backend:
    """Mutations of the MediLink app; ``clock`` gives the time (the engine's, in tests)."""

    def __init__(self, app: Tidings, data: SqlDirectory, clock: Clock) -> None:
        self.app = app
        self.data = data
        self.clock = clock

    def _publish(self, name: str, data: dict[str, Any], event_id: str) -> None:
        self.app.send_event(name, data, id=event_id)

    # -- users -----------------------------------------------------------------------
    def register_user(
        self,
        *,
        name: str,
        email: str,
        role: Role = "hospital",
        phone: str | None = None,
        locale: str = "vi",
        timezone: str = "Asia/Ho_Chi_Minh",
        organization: str | None = None,
        job_title: str | None = None,
        category: str | None = None,
        user_id: str | None = None,
    ) -> User:
        # One transaction: an address tidings rejects (a bad phone number) leaves no user.
        with self.data.transaction():
            user = self.data.create_user(
                role=role,
                name=name,
                email=email,
                phone=phone,
                locale=locale,
                timezone=timezone,
                now=self.clock(),
                category=category,
                organization=organization,
                job_title=job_title,
                user_id=user_id,
            )
            self._sync_recipient(user)
        self._publish(
            "user.registered",
            {"userId": user.id, "email": user.email, "name": user.name, "role": user.role},
            f"user.registered:{user.id}",
        )
        return user

    def update_profile(self, user_id: str, **fields: str | None) -> User:
        with self.data.transaction():
            user = self.data.update_profile(user_id, self.clock(), **fields)
            self._sync_recipient(user)
        return user

    def _sync_recipient(self, user: User) -> None:
        self.app.recipients.upsert(
            user.id,
            email=user.email,
            phone=user.phone,
            locale=user.locale,
            timezone=user.timezone,
            data={"name": user.name},  # templates greet a broadcast's recipients by name
        )
        # A provider is in the topic of the category its profile names (and only that).
        wanted = (
            provider_topic(user.category) if user.role == "provider" and user.category else None
        )
        for topic in self.app.topics.of(user.id):
            if topic.startswith(PROVIDER_TOPIC) and topic != wanted:
                self.app.topics.unsubscribe(topic, [user.id])
        if wanted is not None:
            self.app.topics.subscribe(wanted, [user.id])

    def register_device(
        self, user_id: str, token: str, platform: str, device_name: str | None = None
    ) -> None:
        """The mobile app registers its Expo push token after sign-in."""
        self.data.user(user_id)
        self.app.recipients.add_push_token(
            user_id, token, platform=platform, device_name=device_name
        )

    def sign_out_device(self, token: str) -> None:
        self.app.recipients.deactivate_push_token(token)

    def record_activity(self, user_id: str) -> None:
        self.data.touch(user_id, self.clock())

    # -- appointments ----------------------------------------------------------------
    def book_appointment(self, user_id: str, starts_at: datetime, title: str, location: str) -> str:
        aid = self.data.create_appointment(user_id, title, location, starts_at)
        self._publish(
            "appointment.created",
            {"appointmentId": aid, "userId": user_id, "startsAt": starts_at.isoformat()},
            f"appointment.created:{aid}",
        )
        return aid

    def reschedule_appointment(self, appointment_id: str, starts_at: datetime) -> None:
        self.data.reschedule_appointment(appointment_id, starts_at)
        self._publish(
            "appointment.rescheduled",
            {"appointmentId": appointment_id, "startsAt": starts_at.isoformat()},
            f"appointment.rescheduled:{appointment_id}:{starts_at.isoformat()}",
        )

    def cancel_appointment(self, appointment_id: str) -> None:
        self.data.cancel_appointment(appointment_id)
        self._publish(
            "appointment.cancelled",
            {"appointmentId": appointment_id},
            f"appointment.cancelled:{appointment_id}",
        )

    # -- marketplace -----------------------------------------------------------------
    def create_service_request(self, hospital_user_id: str, category: str, title: str) -> str:
        rid = self.data.create_service_request(hospital_user_id, category, title, self.clock())
        self._publish(
            "service_request.created",
            {"requestId": rid, "hospitalId": hospital_user_id, "category": category},
            f"service_request.created:{rid}",
        )
        return rid

    def send_quote(self, request_id: str, provider_id: str, amount_vnd: int) -> str:
        quote = self.data.create_quote(request_id, provider_id, amount_vnd, self.clock())
        self._publish(
            "quote.sent",
            {
                "quoteId": quote["id"],
                "requestId": request_id,
                "providerId": provider_id,
                "hospitalUserId": quote["hospitalUserId"],
            },
            f"quote.sent:{quote['id']}",
        )
        return str(quote["id"])

    def respond_to_quote(self, quote_id: str, accept: bool) -> None:
        self.data.respond_to_quote(quote_id, accept, self.clock())
        self._publish(
            "quote.responded",
            {"quoteId": quote_id, "response": "accepted" if accept else "declined"},
            f"quote.responded:{quote_id}",
        )

    # -- clinical events (from the pharmacy and lab integrations) --------------------
    def prescription_ready(self, user_id: str, prescription_id: str, pharmacy: str) -> None:
        self.data.user(user_id)
        self._publish(
            "prescription.ready",
            {"prescriptionId": prescription_id, "userId": user_id, "pharmacy": pharmacy},
            f"prescription.ready:{prescription_id}",
        )

    def lab_completed(self, user_id: str, lab_order_id: str, test_name: str) -> None:
        self.data.user(user_id)
        self._publish(
            "lab.completed",
            {"labOrderId": lab_order_id, "userId": user_id, "testName": test_name},
            f"lab.completed:{lab_order_id}",
        )
