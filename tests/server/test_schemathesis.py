"""Property-based tests of every operation in /openapi.json, over real HTTP.

Bounded (a few dozen cases per operation, a few hundred in all): no answer is a 5xx,
every answer matches the documented status codes, content types, headers and schemas,
and schema-invalid requests are rejected.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from tests.fakes.server import refused_url
from tests.server.harness import add_tasks, new_key, serving
from tidings import Tidings
from tidings.providers import Provider, Resend, Twilio

MAX_EXAMPLES = 30
WEBHOOK_SECRET = "whsec_c2NoZW1hdGhlc2lzLXdlYmhvb2stc2VjcmV0"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    path: Path = tmp_path_factory.mktemp("schemathesis") / "api.db"
    # Resend and Twilio configured, so their webhooks verify signatures (and answer 401)
    # instead of answering that they are not configured.
    channels: dict[str, list[Provider]] = {
        "email": [Resend(api_key="re_schemathesis", sender="noreply@example.com",
                         base_url=refused_url(), webhook_secret=WEBHOOK_SECRET)],
        "sms": [Twilio(account_sid="AC" + "2" * 32, auth_token="schemathesis-token",
                       from_="+15005550006", base_url=refused_url())],
    }  # fmt: skip
    app = Tidings(f"sqlite:///{path}", environment="staging", channels=channels)
    add_tasks(app)
    key = new_key(app)
    app.trigger("slow")
    with serving(app) as url:
        yield url, key
    app.close()


def test_every_operation_answers_as_documented(served: tuple[str, str]) -> None:
    url, key = served
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    headers = {"Authorization": f"Bearer {key}"}
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
            if "key" in (case.path_parameters or {}):
                case.path_parameters = {**case.path_parameters, "key": key}
            # Not "every schema-valid request is accepted": some values are checked past
            # what JSON Schema can say (phone numbers, IANA timezones, opaque cursors,
            # payloads against a task's model) and rightly answer 422 with a message.
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        check()
