"""Simulated MediLink traffic: people registering, booking, requesting and quoting.

Everything goes through the app's own backend (:class:`~examples.medilink.backend.Backend`),
exactly as the web and mobile apps would, so the tasks see real events. The choices are
drawn from a seeded random generator: the same seed gives the same story. Entity ids are
deterministic too when the bundle was built with ``create(..., ids=seeded_ids(seed))``.

    from examples.medilink.app import create
    from examples.medilink.simulate import Traffic, seeded_ids

    medilink = create(ids=seeded_ids(7))
    traffic = Traffic(medilink, seed=7)
    traffic.populate()            # a few hospitals and providers
    for _ in range(20):
        print(traffic.step())     # one action, described in a line
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .app import MediLink
from .domain import CATEGORIES, User

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Võ", "Đặng", "Bùi", "Đỗ"]
MIDDLE = ["Văn", "Thị", "Minh", "Ngọc", "Thanh", "Quốc", "Thu", "Hữu"]
GIVEN = ["An", "Bình", "Châu", "Dũng", "Hà", "Hạnh", "Khoa", "Lan", "Long", "Mai", "Nam",
         "Phúc", "Quân", "Sơn", "Trang", "Tuấn", "Vy", "Yến"]  # fmt: skip
HOSPITALS = [
    "Bệnh viện Đa khoa Tâm Anh",
    "Bệnh viện Nhân dân Gia Định",
    "Bệnh viện Đa khoa Đồng Nai",
    "Bệnh viện Hoàn Mỹ Đà Nẵng",
    "Phòng khám Đa khoa Sài Gòn",
    "Bệnh viện Quốc tế City",
]
PROVIDERS = {
    "imaging": ["Trung tâm Chẩn đoán Hình ảnh Medic", "Imaging Partners Việt Nam"],
    "laboratory": ["Phòng xét nghiệm Diag", "LabCare Sài Gòn"],
    "equipment-maintenance": ["Kỹ thuật Y tế Phương Nam", "MedTech Service"],
    "staffing": ["Nhân lực Y tế An Tâm", "CareStaff Asia"],
    "pharmacy-supply": ["Dược phẩm Thành Công", "PharmaLink Distribution"],
}
REQUESTS = {
    "imaging": ["Chụp MRI cho 20 bệnh nhân trong tháng", "Đọc kết quả CT ngoài giờ"],
    "laboratory": ["Xét nghiệm sinh hóa máu định kỳ", "Xét nghiệm PCR cho khoa Nhi"],
    "equipment-maintenance": ["Bảo trì máy siêu âm GE Logiq", "Hiệu chuẩn máy thở ICU"],
    "staffing": ["Điều dưỡng ca đêm cho khoa Cấp cứu", "Kỹ thuật viên X-quang thời vụ"],
    "pharmacy-supply": ["Cung ứng kháng sinh quý III", "Vật tư tiêu hao phòng mổ"],
}
APPOINTMENTS = ["Khám tim mạch", "Tái khám nội tiết", "Siêu âm thai", "Khám mắt định kỳ"]
TESTS = ["Công thức máu", "HbA1c", "Chức năng gan", "Mỡ máu"]
PHARMACIES = ["Nhà thuốc Long Châu Quận 3", "Nhà thuốc Pharmacity Nguyễn Trãi"]
MOBILE_PREFIXES = ["90", "91", "93", "94", "96", "97", "98"]


def seeded_ids(seed: int) -> Callable[[str], str]:
    """Ids like ``apt_3f9c0a1b2c4d`` drawn from their own seeded generator."""
    rng = random.Random(f"ids-{seed}")
    return lambda prefix: f"{prefix}_{rng.getrandbits(48):012x}"


@dataclass(frozen=True)
class Action:
    kind: str
    """``register``, ``profile``, ``request``, ``quote``, ``answer``, ``book``,
    ``reschedule``, ``cancel``, ``prescription``, ``lab`` or ``activity``."""
    description: str


class Traffic:
    """Deterministic simulated users of one MediLink bundle."""

    def __init__(self, medilink: MediLink, seed: int = 7) -> None:
        self.ml = medilink
        self.rng = random.Random(seed)
        self._counter = 0
        self.hospital_users: list[str] = []
        self.providers: list[str] = []
        self.open_requests: list[str] = []
        self.open_quotes: list[str] = []
        self.appointments: list[str] = []

    # -- resuming (tidings demo) -----------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The simulation's state as JSON, to go on later in another process."""
        version, internal, gauss = self.rng.getstate()
        return {
            "rng": [version, list(internal), gauss],
            "counter": self._counter,
            "hospital_users": list(self.hospital_users),
            "providers": list(self.providers),
            "open_requests": list(self.open_requests),
            "open_quotes": list(self.open_quotes),
            "appointments": list(self.appointments),
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Go on from ``snapshot``. The people already in the data win over it, so a user
        registered just before a crash (after the last snapshot) is neither forgotten
        nor registered again, and no new id repeats an old one."""
        version, internal, gauss = snapshot["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        self.open_requests = list(snapshot["open_requests"])
        self.open_quotes = list(snapshot["open_quotes"])
        self.appointments = list(snapshot["appointments"])
        users = self.ml.data.users()
        self.hospital_users = [u.id for u in users if u.role == "hospital"]
        self.providers = [u.id for u in users if u.role == "provider"]
        numbers = [int(u.id.rpartition("-")[2]) for u in users if u.id.rpartition("-")[2].isdigit()]
        self._counter = max([int(snapshot["counter"]), *numbers])

    # -- people --------------------------------------------------------------------------
    def _name(self) -> str:
        rng = self.rng
        return f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"

    def _phone(self) -> str:
        return f"+84{self.rng.choice(MOBILE_PREFIXES)}{self.rng.randrange(10**7):07d}"

    def _token(self) -> str:
        chars = string.ascii_letters + string.digits
        return "ExponentPushToken[" + "".join(self.rng.choice(chars) for _ in range(22)) + "]"

    def _next_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}-{self._counter:04d}"

    def register_hospital_user(self, *, complete: bool | None = None) -> User:
        """A hospital staff member signs up; with ``complete`` their profile is filled in."""
        complete = self.rng.random() < 0.5 if complete is None else complete
        locale = "vi" if self.rng.random() < 0.8 else "en"
        user = self.ml.backend.register_user(
            user_id=self._next_id("hospital"),
            name=self._name(),
            email=f"staff{self._counter}@benhvien.example.vn",
            role="hospital",
            phone=self._phone(),
            locale=locale,
            organization=self.rng.choice(HOSPITALS) if complete else None,
            job_title="Trưởng phòng Vật tư" if complete else None,
        )
        self._maybe_device(user.id)
        self.hospital_users.append(user.id)
        return user

    def register_provider(self, category: str | None = None) -> User:
        category = category or self.rng.choice(CATEGORIES)
        user = self.ml.backend.register_user(
            user_id=self._next_id("provider"),
            name=self._name(),
            email=f"sales{self._counter}@provider.example.vn",
            role="provider",
            phone=self._phone(),
            locale="vi" if self.rng.random() < 0.7 else "en",
            organization=self.rng.choice(PROVIDERS[category]),
            category=category,
        )
        self._maybe_device(user.id)
        self.providers.append(user.id)
        return user

    def _maybe_device(self, user_id: str) -> None:
        if self.rng.random() < 0.7:
            platform = self.rng.choice(["ios", "android"])
            self.ml.backend.register_device(user_id, self._token(), platform)

    def populate(self, hospitals: int = 3, providers_per_category: int = 2) -> list[User]:
        """A starting cast: some hospital staff and providers in every category."""
        people = [self.register_hospital_user() for _ in range(hospitals)]
        for category in CATEGORIES:
            people += [self.register_provider(category) for _ in range(providers_per_category)]
        return people

    # -- actions -------------------------------------------------------------------------
    def step(self) -> Action:
        """One thing happens, chosen by weight among what is possible right now."""
        options: list[tuple[float, Callable[[], Action]]] = [
            (2, self._register),
            (1, self._activity),
        ]
        if self.hospital_users:
            options += [(3, self._request), (2, self._book), (1, self._clinical)]
        if self.open_requests and self.providers:
            options.append((3, self._quote))
        if self.open_quotes:
            options.append((2, self._answer))
        if self.appointments:
            options += [(1, self._reschedule), (0.5, self._cancel)]
        weights = [w for w, _ in options]
        action = self.rng.choices([fn for _, fn in options], weights=weights)[0]
        return action()

    def _register(self) -> Action:
        if self.rng.random() < 0.6:
            user = self.register_hospital_user()
        else:
            user = self.register_provider()
        return Action("register", f"{user.name} ({user.role}, {user.locale}) registered")

    def _activity(self) -> Action:
        people = self.hospital_users + self.providers
        if not people:
            return self._register()
        user_id = self.rng.choice(people)
        self.ml.backend.record_activity(user_id)
        return Action("activity", f"{user_id} opened the app")

    def _request(self) -> Action:
        user_id = self.rng.choice(self.hospital_users)
        user = self.ml.data.user(user_id)
        if not user.profile_complete and self.rng.random() < 0.5:
            self.ml.backend.update_profile(
                user_id, organization=self.rng.choice(HOSPITALS), job_title="Bác sĩ điều phối"
            )
            return Action("profile", f"{user.name} completed their profile")
        category = self.rng.choice(CATEGORIES)
        title = self.rng.choice(REQUESTS[category])
        request_id = self.ml.backend.create_service_request(user_id, category, title)
        self.open_requests.append(request_id)
        return Action("request", f"{user.name} asked for {category}: {title}")

    def _quote(self) -> Action:
        request_id = self.rng.choice(self.open_requests)
        request = self.ml.data.service_request(request_id)
        assert request is not None
        candidates = self.ml.data.providers_in_category(request["category"])
        if not candidates:
            provider = self.register_provider(request["category"])
            return Action("register", f"{provider.name} joined to serve {request['category']}")
        provider_id = self.rng.choice(candidates)
        amount = self.rng.randrange(5, 500) * 100_000
        quote_id = self.ml.backend.send_quote(request_id, provider_id, amount)
        self.open_quotes.append(quote_id)
        self.open_requests.remove(request_id)
        return Action("quote", f"{provider_id} quoted {amount:,} VND for {request['title']}")

    def _answer(self) -> Action:
        quote_id = self.rng.choice(self.open_quotes)
        self.open_quotes.remove(quote_id)
        accept = self.rng.random() < 0.6
        self.ml.backend.respond_to_quote(quote_id, accept)
        return Action("answer", f"quote {quote_id} {'accepted' if accept else 'declined'}")

    def _book(self) -> Action:
        user_id = self.rng.choice(self.hospital_users)
        hours = self.rng.choice([6, 20, 30, 48, 72, 120])
        starts = self.ml.app.clock.now().replace(minute=0, second=0, microsecond=0)
        starts += timedelta(hours=hours)
        title = self.rng.choice(APPOINTMENTS)
        location = self.rng.choice(HOSPITALS)
        appointment_id = self.ml.backend.book_appointment(user_id, starts, title, location)
        self.appointments.append(appointment_id)
        return Action("book", f"{user_id} booked {title} in {hours} h")

    def _reschedule(self) -> Action:
        appointment_id = self.rng.choice(self.appointments)
        current = self.ml.data.appointment(appointment_id)
        assert current is not None
        self.appointments.remove(appointment_id)
        if current["status"] != "scheduled":
            return self._activity()
        moved = self.ml.app.clock.now().replace(minute=0, second=0, microsecond=0)
        moved += timedelta(hours=self.rng.choice([12, 36, 60, 96]))
        self.ml.backend.reschedule_appointment(appointment_id, moved)
        self.appointments.append(appointment_id)
        return Action("reschedule", f"appointment {appointment_id} moved to {moved:%d/%m %H:%M}")

    def _cancel(self) -> Action:
        appointment_id = self.rng.choice(self.appointments)
        self.appointments.remove(appointment_id)
        current = self.ml.data.appointment(appointment_id)
        if current is None or current["status"] != "scheduled":
            return self._activity()
        self.ml.backend.cancel_appointment(appointment_id)
        return Action("cancel", f"appointment {appointment_id} cancelled")

    def _clinical(self) -> Action:
        user_id = self.rng.choice(self.hospital_users)
        if self.rng.random() < 0.5:
            rx = self._next_id("rx")
            self.ml.backend.prescription_ready(user_id, rx, self.rng.choice(PHARMACIES))
            return Action("prescription", f"prescription {rx} ready for {user_id}")
        lab = self._next_id("lab")
        self.ml.backend.lab_completed(user_id, lab, self.rng.choice(TESTS))
        return Action("lab", f"lab order {lab} completed for {user_id}")
