"""Issue 22 at the CLI door: what the HTTP door refuses, `tidings trigger` and
`tidings events send` refuse too, with one error line, before writing anything."""

from __future__ import annotations

import pytest

from tests.e2e.test_cli import Cli, _assert_clean_failure, cli  # noqa: F401 - the fixture
from tidings import Tidings

DEEP = "[" * 300 + "]" * 300


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("trigger", "greet", '{"name": "\\ud800"}'), "not valid Unicode"),
        (("trigger", "greet", '{"a": ' + DEEP + "}"), "64 levels"),
        (("trigger", "greet", "{}", "--delay", "1e300"), "delay"),
        (("trigger", "greet", "{}", "--idempotency-key", "\udcff"), "idempotency_key"),
        (("events", "send", "user.registered", '"\\udfff"'), "not valid Unicode"),
        (("events", "send", "user.registered", DEEP), "64 levels"),
    ],
)
def test_the_cli_refuses_bad_input_and_writes_nothing(
    cli: Cli,  # noqa: F811
    args: tuple[str, ...],
    message: str,
) -> None:
    result = cli(*args)  # "\udcff" reaches the child as the byte 0xff, as from a shell
    _assert_clean_failure(result, message)
    app = Tidings(cli.db)
    try:
        assert app.list_runs() == []
    finally:
        app.close()


def test_the_cli_refuses_json_past_the_parser(cli: Cli) -> None:  # noqa: F811
    for payload in ("[" * 100_000 + "]" * 100_000, "9" * 5000):
        _assert_clean_failure(cli("trigger", "greet", "-", input=payload), "PAYLOAD_JSON")
