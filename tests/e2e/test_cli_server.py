"""``tidings keys``, ``env``, ``config check`` and ``serve``, run for real in subprocesses."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import PG_SERVER, postgres_admin
from tests.e2e.test_cli import APP, Cli, _env
from tests.server.harness import free_port
from tidings import Tidings


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def test_keys_create_list_revoke(cli: Cli) -> None:
    secret = cli.ok("keys", "create", "--env", "staging", "--scope", "publish", "--name", "ci")
    secret = secret.strip()
    assert secret.startswith("tk_staging_")
    listed = cli.json("keys", "list", "--env", "staging")
    assert [(k["name"], k["scope"], k["revoked_at"]) for k in listed] == [("ci", "publish", None)]
    assert secret.startswith(listed[0]["hint"])
    human = cli.ok("keys", "list", "--env", "staging")
    assert secret not in human
    assert cli.json("keys", "list", "--env", "production") == []  # same file, other env
    assert cli.ok("keys", "revoke", listed[0]["id"], "--env", "staging")
    assert cli.json("keys", "list", "--env", "staging")[0]["revoked_at"] is not None
    again = cli("keys", "revoke", listed[0]["id"], "--env", "staging")
    assert again.returncode == 1
    assert "no live key" in again.stderr
    bad = cli("keys", "create", "--env", "staging", "--scope", "root")
    assert bad.returncode == 1
    assert "unknown scope 'root'" in bad.stderr
    assert "Traceback" not in bad.stderr + again.stderr


def test_env_create_and_delete_a_sqlite_preview(cli: Cli) -> None:
    made = cli.ok("env", "create", "preview-pr-42", db=None)
    assert "preview-pr-42" in made
    path = cli.cwd / ".tidings" / "preview-pr-42.db"
    assert path.exists()
    listed = cli.ok("env", "list", db=None)
    assert "preview-pr-42" in listed
    assert "staging" in listed
    refused = cli("env", "delete", "staging", "--yes", db=None)
    assert refused.returncode == 1
    assert "not a preview environment" in refused.stderr
    cli.ok("env", "delete", "preview-pr-42", "--yes", db=None)
    assert not path.exists()


def test_env_create_and_delete_a_postgres_preview(cli: Cli) -> None:
    admin = postgres_admin()
    sep = "&" if "?" in PG_SERVER else "?"
    (cli.cwd / "tidings.toml").write_text(
        f'[tidings]\npreview_database_url = "{PG_SERVER}{sep}schema=tidings_preview_{{name}}"\n'
    )
    schema = "tidings_preview_feature_x"
    try:
        cli.ok("env", "create", "preview-feature-x", db=None)
        rows = admin.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND "
            "table_name = 'api_keys'",
            [schema],
        ).fetchall()
        assert rows
        secret = cli.ok("keys", "create", "--env", "preview-feature-x", db=None).strip()
        assert secret.startswith("tk_preview-feature-x_")
        cli.ok("env", "delete", "preview-feature-x", "--yes", db=None)
        gone = admin.execute(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", [schema]
        ).fetchall()
        assert gone == []
    finally:
        admin.execute(
            psycopg.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                psycopg.sql.Identifier(schema)
            )
        )
        admin.close()


def test_config_check_reports_problems_without_secrets(cli: Cli) -> None:
    (cli.cwd / "tidings.toml").write_text(
        "[tidings]\n"
        f'app = "{APP}"\n'
        "rate_limit = 20\n"
        "[environments.staging]\n"
        'secret_key = "s3cr3t-value-never-shown"\n'
        'sandbox_allow = ["qa@example.com"]\n'
        "[environments.production]\n"
        "sandbox = true\n"
        "rate_limit = -1\n"
    )
    result = cli("config", "check", app=None, db=None)
    assert result.returncode == 1
    assert "rate_limit" in result.stderr
    assert "s3cr3t" not in result.stdout + result.stderr

    (cli.cwd / "tidings.toml").write_text(
        "[tidings]\n"
        "[environments.staging]\n"
        'secret_key = "s3cr3t-value-never-shown"\n'
        'sandbox_allow = ["qa@example.com"]\n'
        "[environments.production]\n"
        'secret_key = "another-s3cr3t"\n'
    )
    ok = cli("config", "check", app=None, db=None)
    assert ok.returncode == 0, ok.stderr
    assert "staging: database (default), secret set, sandbox on (1 allowed)" in ok.stdout
    assert "production: database (default), secret set, sandbox off" in ok.stdout
    assert "s3cr3t" not in ok.stdout + ok.stderr


def test_serve_answers_http_and_stops_on_sigterm(cli: Cli) -> None:
    Tidings(cli.db).migrate()
    port = free_port()
    argv = cli.argv(("serve", "--port", str(port)), APP, cli.db)
    with (cli.cwd / "serve.log").open("w") as log:
        proc = subprocess.Popen(argv, cwd=cli.cwd, env=_env(), stdout=log, stderr=subprocess.STDOUT)
        _check_serving(proc, port, cli.cwd / "serve.log")
    text = (cli.cwd / "serve.log").read_text()
    assert "GET /readyz 200" in text
    assert "Traceback" not in text


def _check_serving(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/readyz")
                break
            except httpx.ConnectError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert r.status_code == 200
        assert r.json()["environment"] == "dev"
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0


@pytest.mark.parametrize("command", ["serve", "dev"])
def test_serve_stops_on_sigterm_with_an_inbox_stream_open(cli: Cli, command: str) -> None:
    app = Tidings(cli.db)
    app.recipients.upsert("u1")
    token = app.inbox_token("u1")
    app.close()
    port = free_port()
    argv = cli.argv((command, "--port", str(port)), APP, cli.db)
    with (cli.cwd / "serve.log").open("w") as log:
        proc = subprocess.Popen(argv, cwd=cli.cwd, env=_env(), stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.ConnectError:
                    assert proc.poll() is None
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
            url = f"http://127.0.0.1:{port}/api/v1/inbox/stream"
            with httpx.stream("GET", url, params={"token": token}, timeout=30) as stream:
                lines = stream.iter_lines()
                assert next(line for line in lines if line.startswith("event:")) == "event: ready"
                proc.terminate()
                started = time.monotonic()
                # the stream is told to close rather than cut after the graceful timeout
                assert next(line for line in lines if line.startswith("event:")) == (
                    "event: closing"
                )
                assert proc.wait(timeout=30) == 0
                assert time.monotonic() - started < 4
        finally:
            if proc.poll() is None:
                proc.kill()
    text = (cli.cwd / "serve.log").read_text()
    assert "graceful shutdown exceeded" not in text
    assert "Traceback" not in text


def test_config_check_validates_each_environments_providers(cli: Cli) -> None:
    (cli.cwd / "tidings.toml").write_text(
        "[tidings.channels]\n"
        'email = ["resend"]\n'
        "[tidings.providers.resend]\n"
        'sender = "MediLink <noreply@medilink.vn>"\n'
        'api_key_env = "RESEND_API_KEY"\n'
        "[environments.staging.channels]\n"
        'email = ["smtp"]\n'
        'sms = ["twilio"]\n'
        "[environments.staging.providers.smtp]\n"
        'host = "smtp.staging.internal"\n'
        'sender = "noreply@staging.medilink.vn"\n'
        "[environments.staging.providers.twilio]\n"
        'account_sid = "AC0123"\n'
        'from = "+15005550006"\n'
        "[environments.production]\n"
        'secret_key = "prod-signing-s3cret"\n'
    )
    secrets = {"RESEND_API_KEY": "re_s3cret_live", "TIDINGS_TWILIO_AUTH_TOKEN": "tw_s3cret"}
    ok = cli("config", "check", app=None, db=None, env=_env(**secrets))
    assert ok.returncode == 0, ok.stderr
    assert "dev: database (default)" in ok.stdout
    assert "providers email resend" in ok.stdout
    assert "staging: " in ok.stdout
    assert "providers email smtp; sms twilio" in ok.stdout
    assert "s3cret" not in ok.stdout + ok.stderr
    as_json = json.loads(
        cli.ok("config", "check", "--json", app=None, db=None, env=_env(**secrets))
    )
    by_env = {row["environment"]: row["channels"] for row in as_json["environments"]}
    assert by_env["staging"] == {"email": ["smtp"], "sms": ["twilio"]}
    assert by_env["production"] == {"email": ["resend"]}

    missing = cli("config", "check", app=None, db=None, env=_env(RESEND_API_KEY="re_s3cret_live"))
    assert missing.returncode == 1
    assert "staging: provider 'twilio'" in missing.stderr
    assert "auth_token" in missing.stderr
    assert "s3cret" not in missing.stdout + missing.stderr
    assert "Traceback" not in missing.stderr


def test_serve_refuses_an_unknown_dashboard_environment(cli: Cli) -> None:
    done = cli("serve", "--port", "0", "--dashboard-envs", "staging,prod")
    assert done.returncode == 1
    assert "unknown environment 'prod'" in done.stderr
    assert "Traceback" not in done.stderr
