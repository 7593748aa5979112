"""providers_from_config: tidings.toml tables, *_env indirection, TIDINGS_* overrides."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tidings.errors import ConfigError
from tidings.providers.config import providers_from_config, providers_from_file
from tidings.providers.expo import Expo
from tidings.providers.resend import Resend
from tidings.providers.smtp import Smtp
from tidings.providers.twilio import Twilio

TOML = """
[tidings]
app = "medilink.app:app"

[tidings.channels]
email = ["resend", "smtp"]
push = ["expo"]
sms = ["twilio", "backup-sms"]

[tidings.providers.resend]
sender = "MediLink <noreply@medilink.vn>"
api_key_env = "RESEND_API_KEY"
webhook_secret_env = "RESEND_WEBHOOK_SECRET"

[tidings.providers.smtp]
host = "smtp.internal"
port = 587
starttls = true
sender = "MediLink <noreply@medilink.vn>"
username = "mailer"

[tidings.providers.expo]

[tidings.providers.twilio]
account_sid = "AC00000000000000000000000000000000"
from = "+15005550006"
status_callback = "https://medilink.vn/webhooks/twilio"

[tidings.providers.backup-sms]
type = "twilio"
account_sid = "AC11111111111111111111111111111111"
messaging_service_sid = "MG00000000000000000000000000000000"
"""

ENV = {
    "RESEND_API_KEY": "re_live_secret_123",
    "RESEND_WEBHOOK_SECRET": "whsec_c2VjcmV0",
    "TIDINGS_SMTP_PASSWORD": "smtp-secret-pass",
    "TIDINGS_TWILIO_AUTH_TOKEN": "twilio-secret-token",
    "TIDINGS_BACKUP_SMS_AUTH_TOKEN": "backup-secret-token",
    "TIDINGS_EXPO_ACCESS_TOKEN": "expo-secret-token",
}
SECRETS = [v for k, v in ENV.items()]


def table(text: str = TOML) -> dict[str, object]:
    return dict(tomllib.loads(text)["tidings"])


def test_full_config_builds_every_provider_in_failover_order() -> None:
    channels = providers_from_config(table(), ENV)
    email, push, sms = channels["email"], channels["push"], channels["sms"]
    assert [type(p) for p in email] == [Resend, Smtp]
    assert [type(p) for p in push] == [Expo]
    assert [type(p) for p in sms] == [Twilio, Twilio]
    resend, smtp = email
    assert isinstance(resend, Resend)
    assert resend.webhook_secret == "whsec_c2VjcmV0"
    assert isinstance(smtp, Smtp)
    assert (smtp.host, smtp.port, smtp.starttls, smtp.username) == (
        "smtp.internal", 587, True, "mailer",
    )  # fmt: skip
    primary, backup = sms
    assert isinstance(primary, Twilio)
    assert isinstance(backup, Twilio)
    assert primary.from_ == "+15005550006"
    assert primary.auth_token == "twilio-secret-token"
    assert backup.messaging_service_sid == "MG00000000000000000000000000000000"
    assert backup.auth_token == "backup-secret-token"
    shown = repr(channels)
    for secret in SECRETS:
        assert secret not in shown


def test_environment_alone_can_configure_a_channel() -> None:
    env = {
        "TIDINGS_EMAIL_PROVIDERS": "resend",
        "TIDINGS_RESEND_API_KEY": "re_env_only",
        "TIDINGS_RESEND_SENDER": "noreply@medilink.vn",
        "TIDINGS_RESEND_RATE_LIMIT": "2",
    }
    channels = providers_from_config({}, env)
    (resend,) = channels["email"]
    assert isinstance(resend, Resend)
    assert resend.rate_limit is not None
    assert resend.rate_limit.limit == 2


def test_environment_overrides_the_file_and_zero_lifts_a_limit() -> None:
    env = {**ENV, "TIDINGS_SMTP_PORT": "2525", "TIDINGS_EXPO_RATE_LIMIT": "0"}
    channels = providers_from_config(table(), env)
    smtp = channels["email"][1]
    assert isinstance(smtp, Smtp)
    assert smtp.port == 2525
    assert channels["push"][0].rate_limit is None


@pytest.mark.parametrize(
    ("text", "env", "match"),
    [
        ('[tidings.channels]\nfax = ["x"]', {}, "unknown channel 'fax'"),
        ('[tidings.channels]\nemail = ["nobody"]', {}, "no \\[tidings.providers.nobody\\]"),
        ('[tidings.channels]\nemail = ["m"]\n[tidings.providers.m]\ntype = "carrier-pigeon"',
         {}, "unknown type 'carrier-pigeon'"),
        ('[tidings.channels]\nsms = ["expo"]\n[tidings.providers.expo]\nsound = "default"',
         {}, "cannot send sms"),
        ('[tidings.channels]\nemail = ["smtp"]\n[tidings.providers.smtp]\nhost = "h"',
         {}, "sender: Field required"),
        ('[tidings.channels]\nemail = ["smtp"]\n[tidings.providers.smtp]\nhost = "h"\n'
         'sender = "a@b.co"\nportt = 25', {}, "portt: Extra inputs are not permitted"),
        ('[tidings.channels]\nemail = ["resend"]\n[tidings.providers.resend]\n'
         'sender = "a@b.co"\napi_key_env = "MISSING_VAR"', {}, "\\$MISSING_VAR, which is not set"),
        ('[tidings.channels]\nsms = ["twilio"]\n[tidings.providers.twilio]\n'
         'account_sid = "AC1"\nauth_token_env = "T"', {"T": "tok"}, "exactly one of from_"),
        ('[tidings.channels]\nemail = ["smtp", "smtp"]\n[tidings.providers.smtp]\nhost = "h"',
         {}, "twice"),
    ],
)  # fmt: skip
def test_bad_config_names_what_is_wrong(text: str, env: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        providers_from_config(table("[tidings]\n" + text), env)


def test_a_secret_in_a_wrongly_typed_option_is_not_echoed() -> None:
    text = (
        '[tidings.channels]\nemail = ["smtp"]\n[tidings.providers.smtp]\nhost = "h"\n'
        'sender = "a@b.co"\nport = "hunter2-password"'
    )
    with pytest.raises(ConfigError) as failed:
        providers_from_config(table("[tidings]\n" + text), {})
    assert "port" in str(failed.value)
    assert "hunter2-password" not in str(failed.value)


def test_providers_from_file(tmp_path: Path) -> None:
    (tmp_path / "tidings.toml").write_text(TOML, encoding="utf-8")
    channels = providers_from_file(tmp_path, ENV)
    assert sorted(channels) == ["email", "push", "sms"]


ENV_TOML = (
    TOML
    + """
[environments.staging.channels]
email = ["smtp"]                      # staging sends mail through its own relay only

[environments.staging.providers.smtp]
host = "smtp.staging.internal"
port = 2525
sender = "MediLink staging <noreply@staging.medilink.vn>"
username = "staging-mailer"

[environments.production.providers.resend]
sender = "MediLink <alerts@medilink.vn>"
api_key_env = "PROD_RESEND_API_KEY"
"""
)


def test_each_environment_overrides_channels_and_provider_tables(tmp_path: Path) -> None:
    (tmp_path / "tidings.toml").write_text(ENV_TOML)
    env = {**ENV, "PROD_RESEND_API_KEY": "re_prod_secret"}

    staging = providers_from_file(tmp_path, env, environment="staging")
    (smtp,) = staging["email"]  # the channel's list is the environment's
    assert isinstance(smtp, Smtp)
    assert (smtp.host, smtp.port, smtp.username) == (
        "smtp.staging.internal",
        2525,
        "staging-mailer",
    )
    assert [type(p) for p in staging["sms"]] == [Twilio, Twilio]  # not overridden: [tidings]

    production = providers_from_file(tmp_path, env, environment="production")
    resend, fallback = production["email"]
    assert isinstance(resend, Resend)
    assert resend.sender == "MediLink <alerts@medilink.vn>"
    assert resend._api_key == "re_prod_secret"  # the environment's own secret
    assert isinstance(fallback, Smtp)
    assert fallback.host == "smtp.internal"

    dev = providers_from_file(tmp_path, {**env, "TIDINGS_ENV": "dev"})
    assert isinstance(dev["email"][0], Resend)
    assert dev["email"][0]._api_key == "re_live_secret_123"
    # TIDINGS_* still win over every table, whichever environment runs
    staged = providers_from_file(
        tmp_path, {**env, "TIDINGS_ENV": "staging", "TIDINGS_SMTP_PORT": "587"}
    )
    assert isinstance(staged["email"][0], Smtp)
    assert staged["email"][0].port == 587


def test_config_check_reports_a_bad_environment_provider_without_values(tmp_path: Path) -> None:
    from tidings.providers.config import provider_problem
    from tidings.settings import check_config as check_settings

    def check_config(folder: Path) -> list[str]:
        return check_settings(folder, check_providers=provider_problem)

    bad = ENV_TOML.replace("port = 2525", 'port = "s3cret-looking-port"')
    (tmp_path / "tidings.toml").write_text(bad)
    problems = check_config(tmp_path)
    staging = [p for p in problems if p.startswith("staging:")]
    assert any("provider 'smtp'" in p and "port" in p for p in staging), problems
    assert not any("s3cret-looking-port" in p for p in problems)
    unknown = "[environments.staging.providers.smtp]\nhots = 'x'\n"
    (tmp_path / "tidings.toml").write_text(TOML + "\n[environments.staging.channels]\nemail"
                                           ' = ["smtp"]\n' + unknown)  # fmt: skip
    assert any("hots" in p for p in check_config(tmp_path))


def test_an_unknown_environment_is_refused(tmp_path: Path) -> None:
    (tmp_path / "tidings.toml").write_text(ENV_TOML)
    with pytest.raises(ConfigError, match="unknown environment 'stagin'"):
        providers_from_file(tmp_path, ENV, environment="stagin")
