"""``tidings recipients export|erase|erasures`` for real in subprocesses, on both stores."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from tests.e2e.test_cli import Cli
from tidings import Tidings

APP = "notifycliapp:app"


def _person(db: str) -> None:
    app = Tidings(db)
    try:
        app.recipients.upsert("pat-zq7", email="zq7@example.com", phone="+84901234567")
        app.recipients.add_push_token("pat-zq7", "ExponentPushToken[zq7]")
        app.topics.subscribe("clinic", ["pat-zq7"])
    finally:
        app.close()


def test_export_to_a_file_then_erase(tmp_path: Path, database_url: str) -> None:
    cli = Cli(tmp_path)
    _person(database_url)
    printed = json.loads(cli.ok("recipients", "export", "pat-zq7", app=APP, db=database_url))
    assert printed["recipient"]["email"] == "zq7@example.com"
    assert [t["topic"] for t in printed["topics"]] == ["clinic"]

    out = tmp_path / "zq7.json"
    done = cli("recipients", "export", "pat-zq7", "--output", str(out), app=APP, db=database_url)
    assert done.returncode == 0, done.stderr
    assert "exported recipient 'pat-zq7'" in done.stderr
    assert json.loads(out.read_text())["push_tokens"][0]["token"] == "ExponentPushToken[zq7]"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600

    # without --yes it asks; "n" keeps everything
    kept = cli("recipients", "erase", "pat-zq7", app=APP, db=database_url, input="n\n")
    assert kept.returncode == 1
    assert "cannot be undone" in kept.stdout
    assert cli.ok("recipients", "export", "pat-zq7", app=APP, db=database_url)

    erased = json.loads(cli.ok("recipients", "erase", "pat-zq7", "--yes", app=APP,
                               db=database_url))  # fmt: skip
    assert erased["actor"] == "cli"
    assert erased["counts"]["recipients"] == 1
    assert erased["counts"]["push_tokens"] == 1
    assert "pat-zq7" not in json.dumps(erased)
    audit = json.loads(cli.ok("recipients", "erasures", app=APP, db=database_url))
    assert [a["id"] for a in audit] == [erased["id"]]


def test_unknown_recipient_is_one_clear_error_line(tmp_path: Path, database_url: str) -> None:
    cli = Cli(tmp_path)
    _person(database_url)
    for argv in (("export", "nobody"), ("erase", "nobody", "--yes")):
        result = cli("recipients", *argv, app=APP, db=database_url)
        assert result.returncode == 1
        assert result.stderr.startswith("error: no recipient with id 'nobody'")
        assert "Traceback" not in result.stderr
    assert json.loads(cli.ok("recipients", "erasures", app=APP, db=database_url)) == []
    usage = cli("recipients", "erase", app=APP, db=database_url)
    assert usage.returncode == 2
    assert "Missing argument 'ID'" in usage.stderr
