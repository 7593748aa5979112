"""Every MediLink notification type exists in Vietnamese and English, part for part,
renders with the data its task sends, and keeps its SMS short; the digest app's emails
render too."""

from __future__ import annotations

import re
from typing import Any

import pytest
from examples.digest.app import TEMPLATES as DIGEST_TEMPLATES
from examples.digest.sequences import EMAIL_TYPES
from examples.medilink.app import TEMPLATES
from examples.medilink.notifications import TYPES

from tidings.notify.templates import Templates

REQUEST = {
    "requestTitle": "Bảo trì máy siêu âm GE Logiq",
    "category": "equipment-maintenance",
    "hospitalName": "Bệnh viện Nhân dân Gia Định",
    "requestId": "req_3f9c0a1b2c4d",
}
# The data each task passes, with realistic lengths.
SAMPLES: dict[str, dict[str, Any]] = {
    "welcome": {"name": "Nguyễn Thu Hà", "role": "hospital"},
    "profile-reminder": {"name": "Nguyễn Thu Hà", "missing": ["organization", "job_title"]},
    "first-request-nudge": {"name": "Nguyễn Thu Hà"},
    "appointment-reminder": {
        "title": "Khám tim mạch",
        "location": "Bệnh viện Tâm Anh",
        "when": "09:00 thứ Tư, 04/03/2026",
    },
    "quote-followup": {
        "requestTitle": "Bảo trì máy siêu âm",
        "providerName": "Kỹ thuật Y tế Phương Nam",
        "amountVnd": 12_500_000,
        "quoteId": "quo_3f9c0a1b2c4d",
    },
    "quote-answered": {
        "requestTitle": "Bảo trì máy siêu âm",
        "hospitalName": "Bệnh viện Nhân dân Gia Định",
        "amountVnd": 12_500_000,
        "accepted": True,
    },
    "new-quotes": {"count": 3, "requestTitle": "Bảo trì máy siêu âm"},
    "prescription-ready": {"pharmacy": "Nhà thuốc Long Châu Q3", "prescriptionId": "RX-0042"},
    "lab-results-ready": {"testName": "HbA1c", "labOrderId": "LAB-7781"},
    "re-engagement": {"recipient": {"name": "Nguyễn Thu Hà"}},
    "service-request-new": REQUEST,
    "service-request-reminder": REQUEST,
    "service-request-urgent": REQUEST,
}
VIETNAMESE = re.compile(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.I)
KEYS = {"category", "role"}  # values the templates translate themselves
CASES = [
    (t, c, loc) for t, (channels, _) in TYPES.items() for c in channels for loc in ("vi", "en")
]


def test_there_are_eleven_in_app_types_and_sms_only_where_critical() -> None:
    # MediLink's ten, and "new-quotes" (a burst of quotes on one request, debounced)
    assert sum("in_app" in channels for channels, _ in TYPES.values()) == 11
    assert {t for t, (channels, _) in TYPES.items() if "sms" in channels} == {
        t for t, (_, critical) in TYPES.items() if critical
    }


def _bare(data: dict[str, Any]) -> dict[str, Any]:
    """Data values replaced by plain letters (nested ones too, as ``recipient``'s)."""
    return {
        k: _bare(v) if isinstance(v, dict) else "X" if k not in KEYS and isinstance(v, str) else v
        for k, v in data.items()
    }


@pytest.mark.parametrize(("type_id", "channel", "locale"), CASES)
def test_every_part_exists_in_both_languages_and_renders(
    type_id: str, channel: str, locale: str
) -> None:
    data = SAMPLES[type_id]
    rendered = Templates(TEMPLATES).render(type_id, channel, locale, data)
    assert set(rendered.sources.values()) == {locale}, rendered.sources  # no fallback
    # the template's own words are in the language (data replaced by plain letters)
    plain = _bare(data)
    bare = Templates(TEMPLATES).render(type_id, channel, locale, plain)
    words = " ".join(p for p in (bare.subject, bare.text, bare.title, bare.body) if p)
    assert bool(VIETNAMESE.search(words)) == (locale == "vi"), words
    if channel == "email":
        assert rendered.subject
        assert rendered.html is not None
        assert rendered.html.startswith("<!doctype html>")
        assert rendered.text
    if channel == "sms":
        assert rendered.sms is not None
        # Vietnamese needs UCS-2 (70 units a segment); keep every text to three at most
        assert rendered.sms.segments <= 3, (rendered.text, rendered.sms)


def test_amounts_and_categories_read_naturally_in_each_language() -> None:
    t = Templates(TEMPLATES)
    vi = t.render("quote-followup", "email", "vi", SAMPLES["quote-followup"])
    en = t.render("quote-followup", "email", "en", SAMPLES["quote-followup"])
    assert "12.500.000 ₫" in (vi.text or "")
    assert "12,500,000 VND" in (en.text or "")
    push = t.render("service-request-new", "push", "en", REQUEST)
    assert push.body == (
        "Bệnh viện Nhân dân Gia Định is looking for equipment maintenance services. "
        "Be the first to quote."
    )
    reminder = t.render("profile-reminder", "in_app", "vi", SAMPLES["profile-reminder"])
    assert reminder.body == (
        "Bổ sung tên bệnh viện hoặc công ty, chức danh để đối tác yên tâm làm việc với bạn."
    )


@pytest.mark.parametrize("type_id", EMAIL_TYPES)
def test_digest_app_emails_render(type_id: str) -> None:
    data: dict[str, Any] = {"name": "Ana"}
    if type_id == "note-digest":
        data |= {"date": "2026-03-07", "items": [{"title": "On habits", "excerpt": "Small."}]}
    rendered = Templates(DIGEST_TEMPLATES).render(type_id, "email", "en", data)
    assert rendered.subject
    assert "Unsubscribe" in (rendered.text or "")


@pytest.mark.parametrize(("type_id", "locale"), [(t, loc) for t, c, loc in CASES if c == "email"])
def test_every_email_extends_the_shared_responsive_layout(type_id: str, locale: str) -> None:
    rendered = Templates(TEMPLATES).render(type_id, "email", locale, SAMPLES[type_id])
    html = rendered.html or ""
    assert f'<html lang="{locale}">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "max-width:560px" in html
    assert "@media (max-width: 600px)" in html
    settings = "Cài đặt thông báo" if locale == "vi" else "Notification settings"
    assert settings in html  # the layout's footer, in the email's language
    assert html.count("<body") == 1
    assert html.rstrip().endswith("</html>")
