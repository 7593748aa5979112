"""Table A, row by row, on the virtual clock: what MediLink sends, to whom, and when.

Each test drives the app through its backend (as the web and mobile apps would), moves
the clock, and reads the outbox, the delivery log and the in-app inbox.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from examples.medilink.app import MediLink, create
from examples.medilink.domain import DomainError, User

from tidings import RunStatus, ValidationError
from tidings.testing import TestEngine

from .helpers import delivered, inbox_types, outbox, statuses

# Sunday 1 March 2026, 09:00 in Ho Chi Minh City (UTC+7).
START = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def ml(database_url: str, data_url: str) -> Iterator[MediLink]:
    bundle = create(database_url, data_url=data_url)
    yield bundle
    bundle.close()


def hospital(ml: MediLink, n: int = 1, *, locale: str = "vi", complete: bool = False) -> User:
    return ml.backend.register_user(
        user_id=f"hospital-{n}",
        name="Nguyễn Thu Hà" if locale == "vi" else "Alice Tran",
        email=f"staff{n}@benhvien.example.vn",
        role="hospital",
        phone=f"+8490123450{n}",
        locale=locale,
        organization="Bệnh viện Gia Định" if complete else None,
        job_title="Trưởng phòng Vật tư" if complete else None,
    )


def provider(ml: MediLink, n: int, category: str, *, token: bool = True) -> User:
    user = ml.backend.register_user(
        user_id=f"provider-{n}",
        name=f"Provider {n}",
        email=f"sales{n}@provider.example.vn",
        role="provider",
        phone=f"+8491234560{n}",
        locale="vi" if n % 2 else "en",
        organization=f"Công ty Kỹ thuật {n}",
        category=category,
    )
    if token:
        ml.backend.register_device(user.id, f"ExponentPushToken[provider{n}]", "android")
    return user


async def run_of(t: TestEngine, task_id: str) -> RunStatus:
    runs = await t.list_runs(task_id)
    assert len(runs) == 1, [r.id for r in runs]
    return runs[0].status


# -- onboarding-drip ------------------------------------------------------------------------


async def test_onboarding_welcome_then_profile_reminder_then_first_request_nudge(
    ml: MediLink,
) -> None:
    async with TestEngine(ml.app, start=START) as t:
        user = hospital(ml)
        await t.advance(timedelta(0))
        [welcome] = outbox(ml.app, user.id, "welcome", "email")
        assert welcome.to == "staff1@benhvien.example.vn"
        assert welcome.locale == "vi"
        assert welcome.subject == "Chào mừng Nguyễn Thu Hà đến với MediLink!"
        assert "Chỉ cần mô tả nhu cầu của bệnh viện" in welcome.text
        assert inbox_types(ml.app, user.id) == ["welcome"]

        await t.advance(timedelta(days=3) - MINUTE)
        assert outbox(ml.app, user.id, "profile-reminder") == []
        await t.advance(MINUTE)
        [reminder] = outbox(ml.app, user.id, "profile-reminder", "email")
        assert reminder.subject == "Hoàn thiện hồ sơ MediLink để bắt đầu"
        assert "tên bệnh viện hoặc công ty, chức danh" in reminder.text
        assert reminder.created_at == START + timedelta(days=3)

        await t.advance(timedelta(days=7) - MINUTE)
        assert outbox(ml.app, user.id, "first-request-nudge") == []
        await t.advance(MINUTE)
        [nudge] = outbox(ml.app, user.id, "first-request-nudge", "email")
        assert nudge.subject == "MediLink có thể hỗ trợ bệnh viện của bạn như thế nào?"
        assert inbox_types(ml.app, user.id) == [
            "welcome",
            "profile-reminder",
            "first-request-nudge",
        ]
        assert await run_of(t, "onboarding-drip") is RunStatus.COMPLETED


async def test_onboarding_skips_reminders_the_user_no_longer_needs(ml: MediLink) -> None:
    async with TestEngine(ml.app, start=START) as t:
        user = hospital(ml, locale="en")
        await t.advance(timedelta(days=1))
        ml.backend.update_profile(user.id, organization="City Hospital", job_title="Buyer")
        await t.advance(timedelta(days=4))
        ml.backend.create_service_request(user.id, "imaging", "MRI scans for 20 patients")
        await t.advance(timedelta(days=10))
        [welcome] = outbox(ml.app, user.id, "welcome", "email")
        assert welcome.subject == "Welcome to MediLink, Alice Tran!"
        assert outbox(ml.app, user.id, "profile-reminder") == []
        assert outbox(ml.app, user.id, "first-request-nudge") == []
        [run] = await t.list_runs("onboarding-drip")
        assert run.status is RunStatus.COMPLETED
        assert run.result == {"profileReminder": False, "firstRequestNudge": False}


async def test_onboarding_of_a_provider_has_no_first_request_nudge(ml: MediLink) -> None:
    async with TestEngine(ml.app, start=START) as t:
        p = ml.backend.register_user(
            user_id="provider-1", name="Trần Minh Khoa", email="khoa@provider.example.vn",
            role="provider", locale="vi",
        )  # fmt: skip
        await t.advance(timedelta(days=11))
        [reminder] = outbox(ml.app, p.id, "profile-reminder", "email")
        assert "số điện thoại, tên bệnh viện hoặc công ty, lĩnh vực dịch vụ" in reminder.text
        assert outbox(ml.app, p.id, "first-request-nudge") == []
        assert "Mỗi ngày, các bệnh viện" in outbox(ml.app, p.id, "welcome", "email")[0].text


# -- appointment-reminder ---------------------------------------------------------------------


async def test_appointment_reminder_24_hours_before_by_email_and_sms(ml: MediLink) -> None:
    async with TestEngine(ml.app, start=START) as t:
        user = hospital(ml)
        starts = START + timedelta(days=3)  # Wednesday 09:00 local
        ml.backend.book_appointment(user.id, starts, "Khám tim mạch", "Bệnh viện Tâm Anh")
        await t.advance(timedelta(days=2) - MINUTE)
        assert delivered(ml.app, user.id, "appointment-reminder") == {}
        await t.advance(MINUTE)
        assert delivered(ml.app, user.id, "appointment-reminder") == {
            "email": 1, "sms": 1, "in_app": 1,
        }  # fmt: skip
        [sms] = outbox(ml.app, user.id, "appointment-reminder", "sms")
        assert sms.to == "+84901234501"
        assert sms.text == (
            "MediLink nhắc lịch hẹn: Khám tim mạch lúc 09:00 thứ Tư, 04/03/2026 "
            "tại Bệnh viện Tâm Anh. Trả lời 1 để xác nhận lịch hẹn."
        )
        assert sms.created_at == starts - timedelta(hours=24)
        [email] = outbox(ml.app, user.id, "appointment-reminder", "email")
        assert email.subject == "Nhắc lịch hẹn: Khám tim mạch, 09:00 thứ Tư, 04/03/2026"
        assert "Xác nhận lịch hẹn" in email.text  # the confirm link
        # the patient replies "1" (what POST /webhooks/twilio/inbound does with a reply)
        await t.advance(timedelta(hours=3))
        question = ml.app.store.tokens.open_question_for_phone(sms.to, t.now())
        assert question is not None
        assert question.actions == ("confirm",)
        assert ml.app.answers.answer(question.id, "confirm", channel="sms")[0] == "answered"
        await t.advance(timedelta(days=3))
        # confirmed: no further reminder
        assert delivered(ml.app, user.id, "appointment-reminder") == {
            "email": 1, "sms": 1, "in_app": 1,
        }  # fmt: skip
        [run] = await t.list_runs("appointment-reminder")
        assert (run.result["confirmed"], run.result["channel"]) == (True, "sms")


async def test_an_unconfirmed_appointment_is_reminded_again_two_hours_before(
    ml: MediLink,
) -> None:
    async with TestEngine(ml.app, start=START) as t:
        user = hospital(ml, locale="en")
        starts = START + timedelta(days=3)
        ml.backend.book_appointment(user.id, starts, "Cardiology", "Tam Anh Hospital")
        await t.advance(timedelta(days=3) - timedelta(hours=2) - MINUTE)
        [first] = outbox(ml.app, user.id, "appointment-reminder", "sms")
        assert first.text.endswith("Reply 1 to confirm the appointment.")
        await t.advance(MINUTE)
        _, again = outbox(ml.app, user.id, "appointment-reminder", "sms")
        assert again.created_at == starts - timedelta(hours=2)
        assert "Reply" not in again.text  # the question has closed: a plain reminder
        await t.advance(timedelta(days=1))
        assert delivered(ml.app, user.id, "appointment-reminder") == {
            "email": 2, "sms": 2, "in_app": 2,
        }  # fmt: skip
        [run] = await t.list_runs("appointment-reminder")
        assert run.result["confirmed"] is False


async def test_appointment_less_than_24_hours_away_is_reminded_at_once(ml: MediLink) -> None:
    async with TestEngine(ml.app, start=START) as t:
        user = hospital(ml, locale="en")
        ml.backend.book_appointment(user.id, START + timedelta(hours=5), "Eye check", "Clinic 3")
        await t.advance(timedelta(0))
        assert delivered(ml.app, user.id, "appointment-reminder") == {
            "email": 1, "sms": 1, "in_app": 1,
        }  # fmt: skip
        [sms] = outbox(ml.app, user.id, "appointment-reminder", "sms")
        assert sms.text == (
            "MediLink reminder: Eye check, Sunday 1 March 2026, 14:00 at Clinic 3. "
            "Reply 1 to confirm the appointment."
        )
        assert sms.created_at == START


async def test_cancelled_appointment_is_never_reminded(ml: MediLink) -> None:
    async with TestEngine(ml.app, start=START) as t:
        user = hospital(ml)
        aid = ml.backend.book_appointment(user.id, START + timedelta(days=3), "Siêu âm", "BV")
        await t.advance(timedelta(days=1))
        ml.backend.cancel_appointment(aid)
        await t.advance(timedelta(days=5))
        assert delivered(ml.app, user.id, "appointment-reminder") == {}
        assert outbox(ml.app, user.id, "appointment-reminder") == []
        assert await run_of(t, "appointment-reminder") is RunStatus.CANCELLED


async def test_rescheduled_appointment_reminds_for_the_new_time_only(ml: MediLink) -> None:
    async with TestEngine(ml.app, start=START) as t:
        user = hospital(ml)
        aid = ml.backend.book_appointment(user.id, START + timedelta(days=3), "Tái khám", "BV")
        await t.advance(timedelta(days=1))
        new_time = START + timedelta(days=5, hours=2)  # Friday 11:00 local
        ml.backend.reschedule_appointment(aid, new_time)
        await t.advance(timedelta(days=2))  # past the old reminder time
        assert delivered(ml.app, user.id, "appointment-reminder") == {}
        await t.advance(new_time - timedelta(hours=24) - t.now())
        [sms] = outbox(ml.app, user.id, "appointment-reminder", "sms")
        assert "11:00 thứ Sáu, 06/03/2026" in sms.text
        assert sms.created_at == new_time - timedelta(hours=24)
        await t.advance(timedelta(days=3))
        # never confirmed: reminded again 2 h before the new time, never for the old one
        assert delivered(ml.app, user.id, "appointment-reminder") == {
            "email": 2, "sms": 2, "in_app": 2,
        }  # fmt: skip
        again = outbox(ml.app, user.id, "appointment-reminder", "sms")[-1]
        assert again.created_at == new_time - timedelta(hours=2)


async def test_appointment_moved_to_within_24_hours_is_reminded_at_once(ml: MediLink) -> None:
    async with TestEngine(ml.app, start=START) as t:
        user = hospital(ml)
        aid = ml.backend.book_appointment(user.id, START + timedelta(days=4), "Tái khám", "BV")
        await t.advance(timedelta(hours=10))
        ml.backend.reschedule_appointment(aid, t.now() + timedelta(hours=6))
        await t.advance(timedelta(0))
        [sms] = outbox(ml.app, user.id, "appointment-reminder", "sms")
        assert sms.created_at == START + timedelta(hours=10)
        assert "01:00 thứ Hai, 02/03/2026" in sms.text
        await t.advance(timedelta(days=5))
        # unconfirmed: once more 2 h before the new time
        _, again = outbox(ml.app, user.id, "appointment-reminder", "sms")
        assert again.created_at == START + timedelta(hours=14)


# -- quote-followup ---------------------------------------------------------------------------


async def _quote(ml: MediLink, t: TestEngine) -> tuple[User, str]:
    user = hospital(ml, complete=True)
    seller = provider(ml, 1, "equipment-maintenance")
    request = ml.backend.create_service_request(
        user.id, "equipment-maintenance", "Bảo trì máy siêu âm"
    )
    await t.advance(timedelta(hours=1))
    quote = ml.backend.send_quote(request, seller.id, 12_500_000)
    await t.advance(timedelta(0))
    return user, quote


async def test_quote_answered_at_47_hours_gets_no_reminder(ml: MediLink) -> None:
    async with TestEngine(ml.app, start=START) as t:
        user, quote = await _quote(ml, t)
        await t.advance(timedelta(hours=47))
        ml.backend.respond_to_quote(quote, accept=True)
        await t.advance(timedelta(days=3))
        assert outbox(ml.app, user.id, "quote-followup") == []
        [run] = await t.list_runs("quote-followup")
        assert run.status is RunStatus.COMPLETED
        assert run.result == {"reminded": False, "response": "accepted"}


async def test_unanswered_quote_is_followed_up_at_48_hours(ml: MediLink) -> None:
    async with TestEngine(ml.app, start=START) as t:
        user, _ = await _quote(ml, t)
        sent_at = t.now()
        await t.advance(timedelta(hours=48) - MINUTE)
        assert outbox(ml.app, user.id, "quote-followup") == []
        await t.advance(MINUTE)
        [email] = outbox(ml.app, user.id, "quote-followup", "email")
        assert email.created_at == sent_at + timedelta(hours=48)
        assert email.subject == 'Báo giá cho "Bảo trì máy siêu âm" đang chờ bạn phản hồi'
        assert "Công ty Kỹ thuật 1 đã gửi báo giá 12.500.000 ₫" in email.text
        assert "quote-followup" in inbox_types(ml.app, user.id)
        await t.advance(timedelta(days=5))
        assert len(outbox(ml.app, user.id, "quote-followup", "email")) == 1


async def test_a_burst_of_quotes_on_one_request_is_one_message(ml: MediLink) -> None:
    """Three providers quote within minutes: the hospital hears "3 new quotes" once,
    ten quiet minutes after the last; a quote an hour later is a message of its own."""
    async with TestEngine(ml.app, start=START) as t:
        user = hospital(ml, complete=True)
        sellers = [provider(ml, n, "equipment-maintenance") for n in (1, 2, 3)]
        request = ml.backend.create_service_request(
            user.id, "equipment-maintenance", "Bảo trì máy siêu âm"
        )
        await t.advance(timedelta(hours=1))
        quotes = []
        for n, seller in enumerate(sellers):
            quotes.append(ml.backend.send_quote(request, seller.id, 10_000_000 + n))
            await t.advance(3 * MINUTE)
        last = t.now() - 3 * MINUTE
        await t.advance(7 * MINUTE - timedelta(seconds=1))
        assert inbox_types(ml.app, user.id).count("new-quotes") == 0
        await t.advance(timedelta(seconds=1))
        [told] = [i for i in ml.app.inbox.list(user.id) if i.type == "new-quotes"]
        assert told.title == '3 báo giá mới cho "Bảo trì máy siêu âm"'
        assert told.created_at == last + 10 * MINUTE
        [run] = await t.list_runs("new-quotes")
        assert run.result == {"told": True, "quotes": quotes}
        assert run.coalesced == 3
        await t.advance(timedelta(hours=1))
        ml.backend.send_quote(request, provider(ml, 4, "equipment-maintenance").id, 9_000_000)
        await t.advance(10 * MINUTE)
        titles = [i.title for i in ml.app.inbox.list(user.id) if i.type == "new-quotes"]
        assert sorted(str(title) for title in titles) == sorted(
            [str(told.title), '1 báo giá mới cho "Bảo trì máy siêu âm"']
        )


# -- prescription-ready and lab-results-ready --------------------------------------------------


async def test_prescription_ready_sms_and_push_at_once_even_opted_out(ml: MediLink) -> None:
    async with TestEngine(ml.app, start=START + timedelta(hours=15)) as t:  # 00:00 local
        user = hospital(ml)
        ml.backend.register_device(user.id, "ExponentPushToken[patient-ios]", "ios")
        ml.app.recipients.upsert(user.id, quiet_hours=("22:00", "07:00"))
        ml.app.preferences.set(user.id, type="prescription-ready", channel="sms", enabled=False)
        ml.backend.prescription_ready(user.id, "RX-2026-0042", "Nhà thuốc Long Châu Quận 3")
        await t.advance(timedelta(0))
        [sms] = outbox(ml.app, user.id, "prescription-ready", "sms")
        assert sms.text == (
            "MediLink: đơn thuốc RX-2026-0042 của bạn đã sẵn sàng, mời nhận tại "
            "Nhà thuốc Long Châu Quận 3."
        )
        [push] = outbox(ml.app, user.id, "prescription-ready", "push")
        assert push.to == "ExponentPushToken[patient-ios]"
        assert push.title == "Đơn thuốc của bạn đã sẵn sàng"
        assert outbox(ml.app, user.id, "prescription-ready", "email") == []
        # critical: routed at once despite the opt-out and the quiet hours, then sent
        [run] = await t.list_runs("prescription-ready")
        assert run.result == {
            "deliveries": {"in_app": "delivered", "push": "pending", "sms": "pending"}
        }
        assert statuses(ml.app, user.id, "prescription-ready") == {
            "in_app": "delivered", "push": "sent", "sms": "sent",
        }  # fmt: skip


async def test_lab_results_ready_email_and_push_at_once(ml: MediLink) -> None:
    async with TestEngine(ml.app, start=START) as t:
        user = hospital(ml, locale="en")
        ml.backend.register_device(user.id, "ExponentPushToken[patient-android]", "android")
        ml.backend.lab_completed(user.id, "LAB-7781", "HbA1c")
        await t.advance(timedelta(0))
        assert delivered(ml.app, user.id, "lab-results-ready") == {
            "email": 1, "push": 1, "in_app": 1,
        }  # fmt: skip
        [email] = outbox(ml.app, user.id, "lab-results-ready", "email")
        assert email.subject == "Your HbA1c results are ready"
        assert "https://app.medilink.vn/labs/LAB-7781" in email.html
        assert outbox(ml.app, user.id, "lab-results-ready", "sms") == []


async def test_lab_results_without_a_device_skip_push_and_still_email(ml: MediLink) -> None:
    async with TestEngine(ml.app, start=START) as t:
        user = hospital(ml)
        ml.backend.lab_completed(user.id, "LAB-1", "Công thức máu")
        await t.advance(timedelta(0))
        assert statuses(ml.app, user.id, "lab-results-ready") == {
            "in_app": "delivered", "email": "sent", "push": "skipped",
        }  # fmt: skip
        assert outbox(ml.app, user.id, "lab-results-ready", "push") == []


async def test_lab_results_at_night_email_now_push_after_quiet_hours(ml: MediLink) -> None:
    async with TestEngine(ml.app, start=START + timedelta(hours=16)) as t:  # 01:00 local
        user = hospital(ml)
        ml.backend.register_device(user.id, "ExponentPushToken[patient-night]", "ios")
        ml.app.recipients.upsert(user.id, quiet_hours=("22:00", "07:00"))
        ml.backend.lab_completed(user.id, "LAB-2", "Mỡ máu")
        await t.advance(timedelta(0))
        assert statuses(ml.app, user.id, "lab-results-ready") == {
            "in_app": "delivered", "email": "sent", "push": "deferred",
        }  # fmt: skip
        await t.advance(timedelta(hours=6))  # 07:00 local: quiet hours end
        [push] = outbox(ml.app, user.id, "lab-results-ready", "push")
        assert push.created_at == START + timedelta(hours=22)
        assert push.body == "Kết quả Mỡ máu của bạn đã sẵn sàng để xem."


# -- inactive-user ----------------------------------------------------------------------------


async def test_inactive_users_are_reengaged_weekly_at_most_once(ml: MediLink) -> None:
    async with TestEngine(ml.app, start=START) as t:
        idle = hospital(ml, 1)
        busy = hospital(ml, 2)
        for _ in range(8):  # busy opens the app every day
            await t.advance(timedelta(days=1))
            ml.backend.record_activity(busy.id)
        # Monday 9 March, 09:00 local: the second Monday tick; idle has been idle 8 days
        assert t.now() == START + timedelta(days=8)
        [first] = outbox(ml.app, idle.id, "re-engagement", "email")
        assert first.created_at == datetime(2026, 3, 9, 2, 0, tzinfo=UTC)
        assert first.subject == "Nguyễn Thu Hà ơi, đã một tuần bạn chưa ghé MediLink"
        assert outbox(ml.app, busy.id, "re-engagement") == []
        # a second run in the same week (a manual trigger) sends nothing new
        await t.trigger("inactive-user", {})
        assert len(outbox(ml.app, idle.id, "re-engagement")) == 1
        # still idle a week later: one more, and only one
        for _ in range(7):
            await t.advance(timedelta(days=1))
            ml.backend.record_activity(busy.id)
        assert len(outbox(ml.app, idle.id, "re-engagement")) == 2
        assert outbox(ml.app, busy.id, "re-engagement") == []


# -- provider-notification-drip ---------------------------------------------------------------


async def test_provider_drip_new_request_then_reminder_then_sms(ml: MediLink) -> None:
    async with TestEngine(ml.app, start=START) as t:
        user = hospital(ml, complete=True)
        imaging = [provider(ml, 1, "imaging"), provider(ml, 2, "imaging")]
        other = provider(ml, 3, "laboratory")
        ml.backend.create_service_request(user.id, "imaging", "Chụp MRI cho 20 bệnh nhân")
        await t.advance(timedelta(0))
        for p in imaging:
            assert delivered(ml.app, p.id, "service-request-new") == {
                "in_app": 1, "email": 1, "push": 1,
            }  # fmt: skip
        assert delivered(ml.app, other.id, "service-request-new") == {}
        [vi_email] = outbox(ml.app, imaging[0].id, "service-request-new", "email")
        assert vi_email.subject == "Yêu cầu chẩn đoán hình ảnh mới từ Bệnh viện Gia Định"
        [en_push] = outbox(ml.app, imaging[1].id, "service-request-new", "push")
        assert en_push.title == "New request: Chụp MRI cho 20 bệnh nhân"
        assert en_push.body == (
            "Bệnh viện Gia Định is looking for imaging services. Be the first to quote."
        )

        await t.advance(timedelta(hours=24) - MINUTE)
        assert delivered(ml.app, imaging[0].id, "service-request-reminder") == {}
        await t.advance(MINUTE)
        for p in imaging:
            assert delivered(ml.app, p.id, "service-request-reminder") == {
                "in_app": 1, "email": 1, "push": 1,
            }  # fmt: skip
            assert delivered(ml.app, p.id, "service-request-urgent") == {}

        await t.advance(timedelta(hours=24))
        for p in imaging:
            assert delivered(ml.app, p.id, "service-request-urgent") == {"in_app": 1, "sms": 1}
        [sms] = outbox(ml.app, imaging[0].id, "service-request-urgent", "sms")
        assert sms.to == "+84912345601"
        assert sms.created_at == START + timedelta(hours=48)
        assert "48 giờ chưa có báo giá" in sms.text
        assert await run_of(t, "provider-notification-drip") is RunStatus.COMPLETED
        assert delivered(ml.app, other.id, "service-request-urgent") == {}


async def test_provider_drip_stops_at_the_first_quote(ml: MediLink) -> None:
    async with TestEngine(ml.app, start=START) as t:
        user = hospital(ml, complete=True)
        p1, p2 = provider(ml, 1, "staffing"), provider(ml, 2, "staffing")
        request = ml.backend.create_service_request(user.id, "staffing", "Điều dưỡng ca đêm")
        await t.advance(timedelta(hours=10))
        ml.backend.send_quote(request, p1.id, 30_000_000)
        await t.advance(timedelta(days=3))
        for p in (p1, p2):
            assert delivered(ml.app, p.id, "service-request-new") == {
                "in_app": 1, "email": 1, "push": 1,
            }  # fmt: skip
            assert delivered(ml.app, p.id, "service-request-reminder") == {}
            assert delivered(ml.app, p.id, "service-request-urgent") == {}
        [run] = await t.list_runs("provider-notification-drip")
        assert run.result == {"providers": 2, "quotedAfter": "24h"}


async def test_provider_drip_quote_after_the_reminder_stops_the_sms(ml: MediLink) -> None:
    async with TestEngine(ml.app, start=START) as t:
        user = hospital(ml, complete=True)
        p1 = provider(ml, 1, "laboratory", token=False)
        request = ml.backend.create_service_request(user.id, "laboratory", "Xét nghiệm PCR")
        await t.advance(timedelta(hours=30))
        assert delivered(ml.app, p1.id, "service-request-reminder") == {"in_app": 1, "email": 1}
        ml.backend.send_quote(request, p1.id, 8_000_000)
        await t.advance(timedelta(days=2))
        assert delivered(ml.app, p1.id, "service-request-urgent") == {}
        [run] = await t.list_runs("provider-notification-drip")
        assert run.result == {"providers": 1, "quotedAfter": "48h"}


# -- recipients' devices ------------------------------------------------------------------------


async def test_push_goes_to_each_active_device_and_not_to_signed_out_ones(ml: MediLink) -> None:
    async with TestEngine(ml.app, start=START) as t:
        user = hospital(ml, locale="en")
        ml.backend.register_device(user.id, "ExponentPushToken[phone]", "ios", "Alice's iPhone")
        ml.backend.register_device(user.id, "ExponentPushToken[tablet]", "android")
        assert {p.token for p in ml.app.recipients.push_tokens(user.id)} == {
            "ExponentPushToken[phone]", "ExponentPushToken[tablet]",
        }  # fmt: skip
        ml.backend.lab_completed(user.id, "LAB-10", "HbA1c")
        await t.advance(timedelta(0))
        pushed = {m.to for m in outbox(ml.app, user.id, "lab-results-ready", "push")}
        assert pushed == {"ExponentPushToken[phone]", "ExponentPushToken[tablet]"}

        ml.backend.sign_out_device("ExponentPushToken[tablet]")
        ml.backend.lab_completed(user.id, "LAB-11", "Lipid panel")
        await t.advance(timedelta(0))
        latest = outbox(ml.app, user.id, "lab-results-ready", "push")[2:]
        assert [m.to for m in latest] == ["ExponentPushToken[phone]"]
        assert "Lipid panel" in (latest[0].body or "")


async def test_a_rejected_phone_number_registers_nobody_and_sends_nothing(ml: MediLink) -> None:
    async with TestEngine(ml.app, start=START) as t:
        with pytest.raises(ValidationError, match="phone"):
            ml.backend.register_user(
                user_id="hospital-9", name="X", email="x@benhvien.example.vn", phone="12345"
            )
        with pytest.raises(DomainError, match="no user 'hospital-9'"):
            ml.data.user("hospital-9")
        user = hospital(ml)
        with pytest.raises(DomainError, match="already exists"):
            hospital(ml)
        await t.advance(timedelta(0))
        assert [r.payload["userId"] for r in await t.list_runs("onboarding-drip")] == [user.id]
