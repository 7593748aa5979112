"""Environment settings: [tidings] defaults, [environments.X], then TIDINGS_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidings.errors import ConfigError
from tidings.loader import load_app
from tidings.settings import (
    ServerSettings,
    check_config,
    check_name,
    environment_settings,
    sandboxed,
    validate_environment,
)

TOML = """
[tidings]
rate_limit = 10
preview_database_url = "postgresql://db/app?schema=preview_{name}"
sandbox_allow = ["qa@example.com"]

[environments.staging]
database_url = "sqlite:///staging.db"
rate_limit = 50
cors_origins = ["https://staging.example.com"]

[environments.production]
database_url = "postgresql://db/app?schema=prod"
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("TIDINGS_RATE_LIMIT", "TIDINGS_SANDBOX", "TIDINGS_DATABASE_URL", "TIDINGS_ENV"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "tidings.toml").write_text(TOML)
    return tmp_path


def test_sections_override_defaults_and_variables_override_both(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging = environment_settings("staging", folder)
    assert staging.database_url == "sqlite:///staging.db"
    assert staging.rate_limit == 50
    assert staging.sandbox_allow == ("qa@example.com",)
    assert staging.cors_origins == ("https://staging.example.com",)
    assert environment_settings("dev", folder).rate_limit == 10
    monkeypatch.setenv("TIDINGS_RATE_LIMIT", "7.5")
    monkeypatch.setenv("TIDINGS_SANDBOX_ALLOW", "a@x.vn, +84900000001")
    staging = environment_settings("staging", folder)
    assert staging.rate_limit == 7.5
    assert staging.sandbox_allow == ("a@x.vn", "+84900000001")


def test_preview_environments_take_the_template(folder: Path) -> None:
    preview = environment_settings("preview-pr-7", folder)
    assert preview.database_url == "postgresql://db/app?schema=preview_pr_7"


def test_sandbox_is_on_everywhere_but_production(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sandboxed("staging", environment_settings("staging", folder))
    assert sandboxed("preview-x", environment_settings("preview-x", folder))
    assert not sandboxed("production", environment_settings("production", folder))
    monkeypatch.setenv("TIDINGS_SANDBOX", "true")
    assert sandboxed("production", environment_settings("production", folder))
    monkeypatch.setenv("TIDINGS_SANDBOX", "maybe")
    with pytest.raises(ConfigError, match="TIDINGS_SANDBOX"):
        environment_settings("production", folder)


def test_bad_settings_name_the_key(folder: Path) -> None:
    (folder / "tidings.toml").write_text("[environments.staging]\nrate_limt = 5\n")
    with pytest.raises(ConfigError, match=r"\[environments.staging\].*rate_limt"):
        environment_settings("staging", folder)
    problems = check_config(folder)
    assert any("rate_limt" in p for p in problems)
    assert any("production has no secret_key" in p for p in problems)


def test_environment_names(folder: Path) -> None:
    assert check_name("preview-feature-1") == "preview-feature-1"
    for bad in ("qa", "preview-", "Preview-x", "preview_x"):
        with pytest.raises(ConfigError):
            check_name(bad)


def test_one_rule_for_environment_names() -> None:
    # any well-formed name runs an app; the configured ones are a subset of them
    assert validate_environment("integration") == "integration"
    with pytest.raises(ConfigError, match="environment name 'Bad Env' is invalid"):
        validate_environment("Bad Env")
    with pytest.raises(ConfigError, match="environment name 'Preview-x' is invalid"):
        check_name("Preview-x")
    with pytest.raises(ConfigError, match="unknown environment 'qa'"):
        check_name("qa")
    longest = "preview-" + "a" * 41
    assert check_name(longest) == validate_environment(longest)


def test_load_app_uses_the_environment_database(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(folder)
    try:
        app = load_app("tests.e2e.cliapp:app", environment="staging")
        assert app.database_url == "sqlite:///staging.db"
        assert app.environment == "staging"
        app = load_app("tests.e2e.cliapp:app", environment="dev", database_url="sqlite:///x.db")
        assert app.database_url == "sqlite:///x.db"
        app = load_app("tests.e2e.cliapp:app", environment="preview-a")
        assert app.database_url == "postgresql://db/app?schema=preview_a"
    finally:  # the module's app is shared with other tests
        app.configure(environment="dev", database_url="sqlite:///.tidings/dev.db")


def test_server_settings_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="max_body_bytes"):
        ServerSettings(max_body_bytes=10)
    monkeypatch.setenv("TIDINGS_MAX_BODY_BYTES", "lots")
    with pytest.raises(ConfigError, match="TIDINGS_MAX_BODY_BYTES"):
        ServerSettings.from_env()
    monkeypatch.setenv("TIDINGS_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("TIDINGS_CORS_ORIGINS", "https://a.example, https://b.example")
    s = ServerSettings.from_env()
    assert (s.max_body_bytes, s.cors_origins) == (2048, ("https://a.example", "https://b.example"))
    assert s.key_cache_seconds == 5.0
    for bad in (-1, 301, True):
        with pytest.raises(ConfigError, match="key_cache_seconds"):
            ServerSettings(key_cache_seconds=bad)
    monkeypatch.setenv("TIDINGS_KEY_CACHE_SECONDS", "0")
    assert ServerSettings.from_env().key_cache_seconds == 0


def test_keys_of_tidings_that_are_not_per_environment_are_left_to_it(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / "tidings.toml").write_text(
        '[tidings]\napp = "x:app"\nenvironment = "dev"\nrate_limit = 5\nmystery = 1\n'
    )
    assert environment_settings("dev", folder).rate_limit == 5
    problems = check_config(folder)
    assert any("unknown keys mystery" in p for p in problems)
    assert not any("rate_limit" in p or "'app'" in p for p in problems)
